// The playground: speak text through the service's WebSocket and play it as it
// arrives with Web Audio, words highlighted at their timestamps. No build step.
"use strict";

import { decodeMsgpack } from "./msgpack.js";

const SAMPLE_RATE = 24000;
const KEY_STORAGE = "orpheus-tts-key";
// Browsers cannot set headers on a WebSocket: the key travels as a subprotocol,
// "orpheus-tts.key.<base64url(key)>", next to "orpheus-tts", which the service echoes.
const SUBPROTOCOL = "orpheus-tts";
const KEY_SUBPROTOCOL_PREFIX = "orpheus-tts.key.";
const START_DELAY_S = 0.05;

const $ = (id) => document.getElementById(id);

// What the page did, for tests and the curious: read it from the console.
const state = {
  voicesLoaded: false,
  needsKey: false,
  speaking: false,
  stopped: false,
  scheduledSamples: 0,
  scheduledChunks: 0,
  activeSources: 0,
  words: [],
  highlighted: [],
  ttfaMs: null,
  error: null,
};
window.playground = state;

let audio = null;
let current = null;

function storedKey() {
  return sessionStorage.getItem(KEY_STORAGE) || "";
}

function authHeaders() {
  const key = storedKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

function base64url(text) {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function setStatus(text, isError = false) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", isError);
  state.error = isError ? text : null;
}

function showKeyForm(message) {
  state.needsKey = true;
  $("key-form").hidden = false;
  $("key").focus();
  setStatus(message, true);
}

async function loadVoices() {
  let response;
  try {
    response = await fetch("v1/audio/voices", { headers: authHeaders() });
  } catch (error) {
    setStatus(`Could not reach the service: ${error}`, true);
    return;
  }
  if (response.status === 401) {
    showKeyForm(storedKey() ? "The key was refused: enter the right one." : "Enter the service's API key.");
    return;
  }
  if (!response.ok) {
    setStatus(`Could not load voices: HTTP ${response.status}`, true);
    return;
  }
  fillVoices(await response.json());
  $("key-form").hidden = true;
  state.needsKey = false;
  state.voicesLoaded = true;
  $("speak").disabled = false;
  setStatus("Ready.");
}

function fillVoices(body) {
  const select = $("voice");
  select.replaceChildren();
  const groups = Array.isArray(body.models) && body.models.length
    ? body.models
    : [{ id: null, voices: body.voices || [] }];
  for (const group of groups) {
    let parent = select;
    if (group.id) {
      parent = document.createElement("optgroup");
      const served = group.served ? "" : " (not the loaded model)";
      parent.label = `${group.language || ""} ${group.id}${served}`.trim();
      select.append(parent);
    }
    for (const name of group.voices) {
      const option = new Option(name, name, false, name === body.default);
      parent.append(option);
    }
  }
  select.disabled = false;
}

function ensureAudio() {
  if (audio === null) audio = new AudioContext();
  if (audio.state === "suspended") audio.resume();
  return audio;
}

function socketUrl(voice, speed) {
  const params = new URLSearchParams({ format: "PcmMessagePack", voice });
  if (speed !== 1) params.set("speed", String(speed));
  const url = new URL(`api/tts_streaming?${params}`, window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url;
}

function speak() {
  stop(false);
  const text = $("text").value.trim();
  if (!text) {
    setStatus("Type some text to speak first.", true);
    return;
  }
  const context = ensureAudio();
  const speed = Number($("speed").value);
  const key = storedKey();
  const protocols = key ? [SUBPROTOCOL, KEY_SUBPROTOCOL_PREFIX + base64url(key)] : [];
  const ws = new WebSocket(socketUrl($("voice").value, speed), protocols);
  ws.binaryType = "arraybuffer";
  const run = {
    ws,
    startedAt: performance.now(),
    sources: new Set(),
    chunks: [],
    samples: 0,
    words: [],
    next: 0,
    breaks: [], // [audio position s, context time s]: where playback (re)started
    opened: false,
    closed: false,
    error: null,
    timer: null,
  };
  current = run;
  Object.assign(state, { speaking: true, stopped: false, words: [], highlighted: [], ttfaMs: null });
  $("words").replaceChildren();
  $("ttfa").textContent = "…";
  $("audio-s").textContent = "0.0 s";
  $("download").hidden = true;
  $("speak").disabled = true;
  $("stop").disabled = false;
  setStatus("Connecting…");

  ws.onopen = () => {
    run.opened = true;
    // The whole text in one message: the service splits it into words itself, and a
    // close (Stop) is never queued behind hundreds of one-word messages.
    ws.send(JSON.stringify({ type: "Text", text }));
    ws.send(JSON.stringify({ type: "Eos" }));
  };
  ws.onmessage = (event) => {
    if (run !== current || typeof event.data === "string") return;
    const message = decodeMsgpack(event.data);
    if (message.type === "Ready") setStatus("Speaking…");
    else if (message.type === "Audio") schedule(run, context, message.pcm);
    else if (message.type === "Text") addWord(run, message);
    else if (message.type === "Error") {
      run.error = message.message;
      setStatus(`The service said: ${message.message}`, true);
    }
  };
  ws.onclose = (event) => {
    if (run !== current) return;
    run.closed = true;
    if (!run.opened) {
      showKeyForm(`The service refused the connection (code ${event.code}). If it needs a key, enter it above.`);
      finish(run);
    } else if (!run.error && event.code !== 1000) {
      run.error = `connection closed (code ${event.code}${event.reason ? `: ${event.reason}` : ""})`;
      setStatus(run.error, true);
    }
  };
  run.timer = setInterval(() => tick(run, context), 25);
}

function schedule(run, context, pcm) {
  const samples = Float32Array.from(pcm);
  if (samples.length === 0) return;
  if (state.ttfaMs === null) {
    state.ttfaMs = performance.now() - run.startedAt;
    $("ttfa").textContent = `${Math.round(state.ttfaMs)} ms`;
  }
  const buffer = context.createBuffer(1, samples.length, SAMPLE_RATE);
  buffer.copyToChannel(samples, 0);
  const source = context.createBufferSource();
  source.buffer = buffer;
  source.connect(context.destination);
  if (run.next < context.currentTime + 0.005) {
    // First chunk, or the stream fell behind playback: restart the clock a bit ahead.
    run.next = context.currentTime + START_DELAY_S;
    run.breaks.push([run.samples / SAMPLE_RATE, run.next]);
  }
  source.start(run.next);
  run.next += buffer.duration;
  run.sources.add(source);
  source.onended = () => {
    run.sources.delete(source);
    if (run === current) state.activeSources = run.sources.size;
  };
  run.chunks.push(samples);
  run.samples += samples.length;
  state.scheduledSamples += samples.length;
  state.scheduledChunks += 1;
  state.activeSources = run.sources.size;
  $("audio-s").textContent = `${(run.samples / SAMPLE_RATE).toFixed(1)} s`;
}

function addWord(run, message) {
  if (!message.text) return;
  const span = document.createElement("span");
  span.textContent = message.text;
  $("words").append(span, " ");
  run.words.push({ start: message.start_s, span, done: false });
  state.words.push(message.text);
}

function playbackPosition(run, now) {
  // Audio seconds played at context time `now`, across restarts after underruns.
  let position = 0;
  for (let i = 0; i < run.breaks.length; i++) {
    const [audioS, at] = run.breaks[i];
    if (now < at) break;
    const limit = i + 1 < run.breaks.length ? run.breaks[i + 1][0] : run.samples / SAMPLE_RATE;
    position = Math.min(audioS + (now - at), limit);
  }
  return position;
}

function tick(run, context) {
  if (run !== current) return;
  const position = playbackPosition(run, context.currentTime);
  for (const word of run.words) {
    if (word.done || word.start > position) continue;
    word.done = true;
    for (const other of run.words) other.span.classList.remove("current");
    word.span.classList.add("current", "spoken");
    state.highlighted.push(word.span.textContent);
  }
  if (run.closed && context.currentTime >= run.next) {
    if (!run.error) setStatus(`Done: ${(run.samples / SAMPLE_RATE).toFixed(1)} s of audio.`);
    finish(run);
  }
}

function finish(run) {
  clearInterval(run.timer);
  if (run === current) current = null;
  state.speaking = false;
  state.activeSources = 0;
  $("speak").disabled = !state.voicesLoaded;
  $("stop").disabled = true;
  offerDownload(run);
}

function stop(byUser = true) {
  const run = current;
  if (run === null) return;
  for (const source of run.sources) {
    try {
      source.stop();
    } catch {
      // never started
    }
    source.disconnect();
  }
  run.sources.clear();
  if (run.ws.readyState <= WebSocket.OPEN) run.ws.close(1000, "stopped");
  finish(run);
  if (byUser) {
    state.stopped = true;
    setStatus("Stopped.");
  }
}

function offerDownload(run) {
  if (run.samples === 0) return;
  const link = $("download");
  if (link.href) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(wavBlob(run.chunks, run.samples));
  link.hidden = false;
}

function wavBlob(chunks, total) {
  const data = new DataView(new ArrayBuffer(44 + total * 2));
  const ascii = (offset, text) => [...text].forEach((c, i) => data.setUint8(offset + i, c.charCodeAt(0)));
  ascii(0, "RIFF");
  data.setUint32(4, 36 + total * 2, true);
  ascii(8, "WAVE");
  ascii(12, "fmt ");
  data.setUint32(16, 16, true);
  data.setUint16(20, 1, true); // PCM
  data.setUint16(22, 1, true); // mono
  data.setUint32(24, SAMPLE_RATE, true);
  data.setUint32(28, SAMPLE_RATE * 2, true);
  data.setUint16(32, 2, true);
  data.setUint16(34, 16, true);
  ascii(36, "data");
  data.setUint32(40, total * 2, true);
  let offset = 44;
  for (const chunk of chunks) {
    for (const sample of chunk) {
      data.setInt16(offset, Math.max(-1, Math.min(1, sample)) * 32767, true);
      offset += 2;
    }
  }
  return new Blob([data.buffer], { type: "audio/wav" });
}

function init() {
  $("speak").addEventListener("click", speak);
  $("stop").addEventListener("click", () => stop(true));
  $("speed").addEventListener("input", () => {
    $("speed-value").textContent = `${Number($("speed").value).toFixed(2)}×`;
  });
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY_STORAGE, $("key").value.trim());
    loadVoices();
  });
  loadVoices();
}

init();
