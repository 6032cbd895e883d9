"""ais_bench's TXT output: one line per last-dimension row, each value as '%f' (or '%d') and a space.

Formatting value by value in Python costs about 0.2 us a value, 1.5 ms for a batch of eight
1000-class outputs: on the CPU target that is CPU time taken from ONNX Runtime. Float32 and float16
values are formatted here with array arithmetic instead, byte-identical to '%f': for them v * 10**6 is
exact in float64 (a 24-bit mantissa times 15625 fits in 53 bits), so rounding it half-to-even gives the
same six decimals as the correctly rounded '%f'. Other dtypes, non-finite values and magnitudes past
10**12 take the per-value path.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

INTEGER_DIGITS = 12  # |v| < 10**12: the scaled value fits in int64, the integer part in four 3-digit groups
_POW10 = 10 ** np.arange(INTEGER_DIGITS, dtype=np.int64)


def _words(prefix: str, suffix: str) -> np.ndarray:
    """For n in 0..999, the four bytes prefix + '%03d' % n + suffix as one uint32."""
    text = "".join(f"{prefix}{n:03d}{suffix}" for n in range(1000)).encode("ascii")
    return np.frombuffer(text, dtype=np.uint32)


# A value is a row of 4-byte words: sign and the top 3 integer digits, a filler and 3 digits for each
# further group, '.' and 3 decimals, 3 decimals and the space. Unwanted bytes are zeroed, then deleted.
_SIGN_GROUP, _GROUP, _DOT_HIGH, _LOW_SPACE = _words("-", ""), _words("\0", ""), _words(".", ""), _words("", " ")
_NEWLINE = np.frombuffer(b"\n\0\0\0", dtype=np.uint32)[0]


@lru_cache(maxsize=None)
def _kept_bytes(groups: int) -> np.ndarray:
    """[negative * 13 + digits, word]: 0xff for each byte of an integer word the value keeps, else 0."""
    slots = 3 * groups
    keep = np.zeros((2, INTEGER_DIGITS + 1, groups, 4), dtype=np.uint8)
    for digits in range(INTEGER_DIGITS + 1):
        keep[:, digits, :, 1:] = 0xFF * (slots - np.arange(slots) <= digits).reshape(groups, 3)
    keep[1, :, 0, 0] = 0xFF  # the sign
    return keep.reshape(2 * (INTEGER_DIGITS + 1), groups * 4).view(np.uint32)


def format_txt(array: np.ndarray) -> bytes:
    """One input's output as TXT."""
    return txt_per_input(array[None])[0]


def txt_per_input(batch: np.ndarray) -> list[bytes]:
    """The TXT of each batch[i]: formatting a whole batch at once spreads numpy's per-call overhead."""
    count = batch.shape[0]
    last = batch.shape[-1] if batch.ndim > 1 else 1
    rows = batch.reshape(-1, last)
    rows_each = rows.shape[0] // count if count else 0
    if rows.dtype in (np.float32, np.float16) and rows.size:
        values = rows.astype(np.float64)
        if np.isfinite(values).all() and np.abs(values).max() < 1e12:
            text, row_bytes = _fixed6(values)
            ends = np.cumsum(row_bytes.reshape(count, rows_each).sum(1)).tolist()
            return [text[start:end] for start, end in zip([0, *ends[:-1]], ends)]
    return [per_value_txt(rows[i * rows_each:(i + 1) * rows_each]) for i in range(count)]


def per_value_txt(rows: np.ndarray) -> bytes:
    """'%f ' (or '%d ') value by value in Python: the path for what the array formatter does not take."""
    spec = "%f " if np.issubdtype(rows.dtype, np.floating) else "%d "
    line = spec * rows.shape[1] + "\n"
    return "".join(line % tuple(row) for row in rows.tolist()).encode("ascii")


def _fixed6(values: np.ndarray) -> tuple[bytes, np.ndarray]:
    """'%f ' of every value with '\\n' after each row, and the byte count of each row."""
    count, width = values.shape
    scaled = np.abs(np.rint(values * 1e6).astype(np.int64))
    integer, fraction = np.divmod(scaled, 1_000_000)
    digits = np.ones(integer.shape, dtype=np.int64)  # integer digits, at least one
    for power in _POW10[1:len(str(int(integer.max())))]:
        digits += integer >= power
    negative = np.signbit(values)  # '%f' keeps the sign of -0.0 and of negatives that round to zero
    groups = -(-int(digits.max()) // 3)
    words = np.empty((count, width * (groups + 2) + 1), dtype=np.uint32)
    words[:, -1] = _NEWLINE
    value_words = words[:, :-1].reshape(count, width, groups + 2)
    rest = integer
    for group in range(groups - 1, -1, -1):
        rest, three = np.divmod(rest, 1000)
        value_words[..., group] = (_SIGN_GROUP if group == 0 else _GROUP)[three]
    value_words[..., :groups] &= _kept_bytes(groups)[negative * (INTEGER_DIGITS + 1) + digits]
    high, low = np.divmod(fraction, 1000)
    value_words[..., groups] = _DOT_HIGH[high]
    value_words[..., groups + 1] = _LOW_SPACE[low]
    text = words.tobytes().translate(None, b"\0")
    return text, (negative + digits).sum(1) + 8 * width + 1
