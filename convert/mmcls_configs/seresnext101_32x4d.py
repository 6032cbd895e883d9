# model settings (the same as mmcls 0.25 configs/_base_/models/seresnext101_32x4d.py, Apache-2.0;
# tests/convert checks that they stay equal)
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='SEResNeXt',
        depth=101,
        num_stages=4,
        out_indices=(3, ),
        groups=32,
        width_per_group=4,
        se_ratio=16,
        style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
    ))
