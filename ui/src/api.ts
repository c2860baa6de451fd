// Typed front end of the Rust commands in src-tauri/src/commands/stream.rs.
// Keep these types in step with the Rust `StatsUpdate` and `AppError`.
import { Channel, invoke } from "@tauri-apps/api/core";

export type OutputState = "connecting" | "live" | "reconnecting" | "failed" | "stopped";

export interface OutputStats {
  dest: string;
  state: OutputState;
  bitrate_kbps: number;
  bitrate_10s_kbps: number;
  bytes_sent: number;
  latency_ms: number | null;
  latency_source: "ack" | "none";
  queue_ms: number;
  dropped_frames: number;
  reconnects: number;
  next_retry_ms: number | null;
  uptime_s: number | null;
  error: string | null;
}

export interface StatsUpdate {
  outputs: OutputStats[];
}

export interface AppError {
  kind: "bad_destination" | "already_live" | "not_live" | "media";
  message: string;
}

export function goLive(serverUrl: string, streamKey: string, onStats: (u: StatsUpdate) => void): Promise<void> {
  const channel = new Channel<StatsUpdate>();
  channel.onmessage = onStats;
  return invoke<void>("go_live", { serverUrl, streamKey, onStats: channel });
}

export function stop(): Promise<void> {
  return invoke<void>("stop");
}
