"""What the voice tests hear in a rendering: its pitch and where its spectrum's weight lies."""
import numpy as np


def median_f0(pcm: np.ndarray, rate: int) -> float:
    """The median autocorrelation pitch (60-400 Hz) of the voiced 40 ms frames."""
    n, lo, hi, out = int(0.04 * rate), rate // 400, rate // 60, []
    for i in range(0, len(pcm) - n, n):
        x = pcm[i:i + n] - pcm[i:i + n].mean()
        if np.sqrt(np.mean(x * x)) < 0.02:
            continue
        ac = np.correlate(x, x, "full")[n - 1:]
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.4 * ac[0]:
            out.append(rate / lag)
    return float(np.median(out))


def spectral_centroid(pcm: np.ndarray, rate: int) -> float:
    """The mean frequency of the whole rendering's magnitude spectrum, in Hz: formants move it."""
    mag = np.abs(np.fft.rfft(pcm * np.hanning(len(pcm))))
    return float((mag * np.fft.rfftfreq(len(pcm), 1 / rate)).sum() / mag.sum())
