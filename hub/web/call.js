// The video call with the kiosk, as the console sees it: the entry module of the call's parts.
//   call-consultation.js  Consultation: one consultation over one or more legs (resume, chat,
//                         the events the console and the exchange panel listen to)
//   call-leg.js           Leg: one RTCPeerConnection, its data channel and beats
//   call-proof.js         the kiosk's proof on a leg: the four words, or resume_proof

export { CALL_STATE_WORDS, Consultation } from "./call-consultation.js";
export {
  BEAT_INTERVAL_MS,
  CHANNEL_LABEL,
  SILENCE_MS,
  rtcIceServers,
  screenMid,
} from "./call-leg.js";
export { VERIFY_TIMEOUT_MS } from "./call-proof.js";
