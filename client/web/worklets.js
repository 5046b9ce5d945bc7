// Audio worklets of the browser client: microphone capture and agent playback. Both resample
// between the AudioContext's native rate and the session rate with one streaming windowed-sinc
// resampler, so the page works at whatever rate the sound card runs.

class StreamResampler {
  constructor(inRate, outRate, halfTaps = 16) {
    this.step = inRate / outRate;
    this.cutoff = Math.min(1, outRate / inRate) * 0.95;  // below the lower Nyquist: no aliasing
    this.half = halfTaps;
    this.pos = halfTaps;  // position of the next output sample, in input samples into buf
    this.buf = new Float32Array(halfTaps);  // zero history: the stream starts from silence
  }

  kernel(d) {
    const x = d * this.cutoff;
    const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
    const hann = 0.5 + 0.5 * Math.cos(Math.PI * d / (this.half + 1));
    return this.cutoff * sinc * hann;
  }

  // Feed input samples; returns the output samples that can be computed so far.
  push(input) {
    const joined = new Float32Array(this.buf.length + input.length);
    joined.set(this.buf);
    joined.set(input, this.buf.length);
    const out = [];
    while (Math.floor(this.pos) + this.half < joined.length) {
      const base = Math.floor(this.pos);
      let acc = 0;
      for (let k = base - this.half + 1; k <= base + this.half; k++) acc += joined[k] * this.kernel(this.pos - k);
      out.push(acc);
      this.pos += this.step;
    }
    const keep = Math.floor(this.pos) - this.half + 1;  // what the next output still needs
    this.buf = joined.slice(keep);
    this.pos -= keep;
    return Float32Array.from(out);
  }
}

// Microphone -> session-rate PCM16 frames of `frameSamples`, posted with their RMS level.
class CaptureProcessor extends AudioWorkletProcessor {
  constructor(options) {
    const { sessionRate, frameSamples } = options.processorOptions;
    super();
    this.resampler = new StreamResampler(sampleRate, sessionRate);
    this.frame = new Float32Array(frameSamples);
    this.fill = 0;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    const samples = this.resampler.push(channel);
    for (let i = 0; i < samples.length; i++) {
      this.frame[this.fill++] = samples[i];
      if (this.fill === this.frame.length) {
        const pcm = new Int16Array(this.frame.length);
        let energy = 0;
        for (let j = 0; j < pcm.length; j++) {
          const s = Math.max(-1, Math.min(1, this.frame[j]));
          energy += s * s;
          pcm[j] = s < 0 ? s * 32768 : s * 32767;
        }
        this.port.postMessage({ pcm: pcm.buffer, rms: Math.sqrt(energy / pcm.length) }, [pcm.buffer]);
        this.fill = 0;
      }
    }
    return true;
  }
}

// Agent audio (session-rate PCM16 frames) -> speaker, through a jitter buffer: playback starts once
// `startSamples` are queued; an underrun fades out and waits for the threshold again (counted); a
// flush drops the queue with a short fade (the user talked over the agent).
class PlaybackProcessor extends AudioWorkletProcessor {
  constructor(options) {
    const { sessionRate, startMs } = options.processorOptions;
    super();
    this.resampler = new StreamResampler(sessionRate, sampleRate);
    this.queue = new Float32Array(sampleRate * 4);  // ring buffer, 4 s
    this.read = 0;
    this.size = 0;
    this.startSamples = Math.round(sampleRate * startMs / 1000);
    this.fade = Math.round(sampleRate * 0.005);
    this.playing = false;
    this.gain = 0;
    this.counters = { receivedFrames: 0, playedSamples: 0, underruns: 0, flushes: 0, dropped: 0, peak: 0 };
    this.sinceReport = 0;
    this.port.onmessage = (e) => this.onMessage(e.data);
  }

  onMessage(msg) {
    if (msg.flush) {
      if (this.size > 0) this.counters.flushes++;
      this.flushing = Math.min(this.size, this.fade);  // fade out what is already playing, drop the rest
      return;
    }
    const pcm = new Int16Array(msg.pcm);
    const floats = new Float32Array(pcm.length);
    for (let i = 0; i < pcm.length; i++) floats[i] = pcm[i] / 32768;
    this.counters.receivedFrames++;
    const samples = this.resampler.push(floats);
    for (let i = 0; i < samples.length; i++) {
      if (this.size === this.queue.length) { this.counters.dropped++; break; }
      this.queue[(this.read + this.size) % this.queue.length] = samples[i];
      this.size++;
    }
  }

  process(inputs, outputs) {
    const out = outputs[0][0];
    if (this.flushing !== undefined) {
      for (let i = 0; i < out.length; i++) {
        out[i] = i < this.flushing && this.size ? this.take() * (1 - i / this.flushing) : 0;
      }
      this.size = 0;
      this.playing = false;
      this.gain = 0;
      this.flushing = undefined;
    } else {
      if (!this.playing && this.size >= this.startSamples) this.playing = true;
      if (this.playing && this.size < out.length) {  // underrun: fade out what is left
        const n = this.size;
        for (let i = 0; i < out.length; i++) out[i] = i < n ? this.take() * (1 - i / n) : 0;
        this.counters.underruns++;
        this.playing = false;
        this.gain = 0;
      } else if (this.playing) {
        for (let i = 0; i < out.length; i++) {
          this.gain = Math.min(1, this.gain + 1 / this.fade);  // fade in after a start or underrun
          out[i] = this.take() * this.gain;
          this.counters.peak = Math.max(this.counters.peak, Math.abs(out[i]));
        }
        this.counters.playedSamples += out.length;
      } else {
        out.fill(0);
      }
    }
    for (let c = 1; c < outputs[0].length; c++) outputs[0][c].set(out);
    this.sinceReport += out.length;
    if (this.sinceReport >= sampleRate / 10) {
      this.sinceReport = 0;
      this.port.postMessage({ ...this.counters, bufferedMs: 1000 * this.size / sampleRate,
                              playedMs: 1000 * this.counters.playedSamples / sampleRate });
    }
    return true;
  }

  take() {
    const v = this.queue[this.read];
    this.read = (this.read + 1) % this.queue.length;
    this.size--;
    return v;
  }
}

registerProcessor("antiphon-capture", CaptureProcessor);
registerProcessor("antiphon-playback", PlaybackProcessor);
