// The browser client: microphone -> capture worklet -> WebSocket (binary PCM16 frames at the session
// rate); WebSocket -> playback worklet (jitter buffer) -> speaker; captions and figures on the page.
// State is mirrored on window.antiphon for the end-to-end test and for curious users.

const $ = (id) => document.getElementById(id);
const CLOSE_WORDS = {
  1000: "The session ended.",
  1001: "The server is shutting down.",
  1008: "The server refused the connection",
  1009: "A message was too big for the server.",
  1013: "The server cannot take another session now",
};
const BARGE_IN_RMS = 0.02;  // microphone level that counts as the user talking
const BARGE_IN_FRAMES = 2;  // frames of it, while the agent speaks, before its queued audio is dropped

const state = window.antiphon = {
  status: "idle", error: "", caption: "", heard: "", sentFrames: 0, receivedFrames: 0, playedMs: 0, underruns: 0,
  flushes: 0, bufferedMs: 0, latencyMs: null, peak: 0, hello: null,
};

let ws = null, ctx = null, mic = null, capture = null, playback = null;
let sentAt = new Map(), latencies = [], pendingIndex = null, loudFrames = 0, agentSpeaking = false;

function show() {
  $("status").textContent = state.status;
  $("error").textContent = state.error;
  $("caption").textContent = state.caption.slice(-400);
  $("heard").textContent = state.heard.slice(-200);
  $("latency").textContent = state.latencyMs === null ? "–" : `${state.latencyMs.toFixed(0)} ms`;
  $("buffer").textContent = `${state.bufferedMs.toFixed(0)} ms`;
  $("underruns").textContent = String(state.underruns);
  $("frames").textContent = `${state.sentFrames} sent / ${state.receivedFrames} received`;
  $("connect").disabled = state.status !== "idle";
  $("disconnect").disabled = state.status === "idle";
}

function fail(message) {
  state.error = message;
  stop();
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function start() {
  state.error = "";
  state.caption = "";
  state.heard = "";
  state.status = "connecting";
  show();
  const token = $("token").value.trim();
  const url = new URL("/ws", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  if (token) url.searchParams.set("token", token);
  ctx = new AudioContext({ latencyHint: "interactive" });  // on the click: browsers allow sound then
  ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  let opened = false;
  ws.onopen = () => { opened = true; };
  ws.onmessage = (e) => onMessage(e.data);
  ws.onclose = (e) => {
    if (state.status === "idle") return;
    if (!opened) return fail("Could not reach the Antiphon server: is `antiphon serve` running?");
    const words = CLOSE_WORDS[e.code] || "The connection was lost.";
    fail(e.code === 1000 && !e.reason ? words : `${words}${e.reason ? ": " + e.reason : ""} (code ${e.code}).`);
  };
}

function onMessage(data) {
  if (typeof data !== "string") {
    state.receivedFrames++;
    if (pendingIndex !== null && sentAt.has(pendingIndex)) {
      latencies.push(performance.now() - sentAt.get(pendingIndex));
      sentAt.delete(pendingIndex);
      if (latencies.length > 50) latencies.shift();
      state.latencyMs = median(latencies);
    }
    pendingIndex = null;
    if (playback) playback.port.postMessage({ pcm: data }, [data]);
    return;
  }
  const msg = JSON.parse(data);
  if (msg.type === "hello") return onHello(msg);
  if (msg.type === "config_ok") return startAudio();
  if (msg.type === "frame") { pendingIndex = msg.input_index; return; }
  if (msg.type === "text") { state.caption += msg.text; show(); return; }
  if (msg.type === "user_text") { state.heard += (state.heard ? " " : "") + msg.text; show(); return; }
  if (msg.type === "error") { state.error = `Server: ${msg.message}`; show(); }
}

// The server is there: now the microphone (a failure closes the session with the reason in words).
async function onHello(hello) {
  state.hello = hello;
  try {
    // Echo cancellation stays, so the agent does not hear itself through speakers; noise suppression
    // and auto gain reshape speech the agent was not trained on, and cost it most of its answers.
    mic = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: false, autoGainControl: false, channelCount: 1 },
    });
    // Firefox cannot connect a microphone whose rate differs from the context's: follow the mic.
    const micRate = mic.getAudioTracks()[0].getSettings().sampleRate;
    if (micRate && micRate !== ctx.sampleRate) {
      await ctx.close();
      ctx = new AudioContext({ latencyHint: "interactive", sampleRate: micRate });
    }
    await ctx.audioWorklet.addModule("worklets.js");
  } catch (e) {
    const refused = e && (e.name === "NotAllowedError" || e.name === "SecurityError");
    return fail(refused ? "Microphone access was refused: allow the microphone for this page and connect again."
      : `No microphone could be opened (${e && e.name ? e.name : e}).`);
  }
  if (!ws) return;  // disconnected meanwhile
  if (hello.random_weights) state.error = "Note: this server runs random weights, so the agent babbles.";
  ws.send(JSON.stringify({ type: "config", frame_marks: true }));
}

function startAudio() {
  const hello = state.hello;
  const source = ctx.createMediaStreamSource(mic);
  capture = new AudioWorkletNode(ctx, "antiphon-capture", {
    numberOfInputs: 1, numberOfOutputs: 0,
    processorOptions: { sessionRate: hello.sample_rate, frameSamples: hello.frame_size },
  });
  playback = new AudioWorkletNode(ctx, "antiphon-playback", {
    numberOfInputs: 0, numberOfOutputs: 1, outputChannelCount: [2],
    processorOptions: { sessionRate: hello.sample_rate, startMs: Number($("start-ms").value) || 80 },
  });
  capture.port.onmessage = (e) => onCaptured(e.data);
  playback.port.onmessage = (e) => {
    Object.assign(state, { playedMs: e.data.playedMs, underruns: e.data.underruns, bufferedMs: e.data.bufferedMs,
                           flushes: e.data.flushes, peak: e.data.peak });
    agentSpeaking = e.data.bufferedMs > 0;
    show();
  };
  source.connect(capture);
  playback.connect(ctx.destination);
  state.status = "connected";
  show();
}

function onCaptured({ pcm, rms }) {
  $("level").value = Math.min(1, rms * 5);
  if (!ws || ws.readyState !== WebSocket.OPEN) return;
  sentAt.set(state.sentFrames, performance.now());
  if (sentAt.size > 500) sentAt.delete(sentAt.keys().next().value);
  ws.send(pcm);
  state.sentFrames++;
  loudFrames = rms > BARGE_IN_RMS ? loudFrames + 1 : 0;
  if (loudFrames === BARGE_IN_FRAMES && agentSpeaking) playback.port.postMessage({ flush: true });
}

function stop() {
  state.status = "idle";
  if (ws) { const w = ws; ws = null; w.onclose = null; if (w.readyState <= 1) w.close(1000, "page closed"); }
  if (mic) mic.getTracks().forEach((t) => t.stop());
  if (ctx) ctx.close();
  ctx = mic = capture = playback = null;
  sentAt = new Map();
  latencies = [];
  show();
}

$("connect").onclick = start;
$("disconnect").onclick = () => { state.error = ""; stop(); };
show();
