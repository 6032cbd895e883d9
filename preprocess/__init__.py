"""Images -> .bin tensors (float32 CHW by default) plus the preprocess.json sidecar."""
