#!/usr/bin/env bash
# A private PulseAudio daemon with a virtual speaker and a virtual microphone (no sound card needed).
#
#   eval "$(scripts/pulse_env.sh start)"   # starts it; prints the exports that point clients at it
#   paplay --device=vmic_sink speech.wav   # what the app's microphone (source "vmic") hears
#   parec -d vspeaker.monitor ...          # what the app played on the speaker (sink "vspeaker")
#   scripts/pulse_env.sh stop              # stops it and removes its folders (uses $ANYGPT_PULSE_DIR)
#
# The daemon lives in its own HOME/XDG_RUNTIME_DIR under one temporary folder, so it never touches a user's session.
set -euo pipefail

usage() { echo "usage: $0 start | stop [DIR]" >&2; exit 2; }

start() {
  for tool in pulseaudio pactl; do
    command -v "$tool" >/dev/null 2>&1 || { echo "$0: '$tool' is not installed (apt-get install pulseaudio pulseaudio-utils)" >&2; exit 3; }
  done
  local dir; dir=$(mktemp -d "${TMPDIR:-/tmp}/anygpt-pulse.XXXXXX")
  mkdir -p "$dir/home" "$dir/run"; chmod 700 "$dir/run"
  local sock="$dir/run/pa.sock"
  HOME="$dir/home" XDG_RUNTIME_DIR="$dir/run" pulseaudio --daemonize=yes --exit-idle-time=-1 --system=false -n \
    --use-pid-file=yes --log-target="file:$dir/pulse.log" \
    -L "module-native-protocol-unix socket=$sock auth-anonymous=1" \
    -L "module-null-sink sink_name=vspeaker" -L "module-null-sink sink_name=vmic_sink" \
    -L "module-remap-source source_name=vmic master=vmic_sink.monitor" 2>>"$dir/pulse.log" \
    || { echo "$0: pulseaudio failed to start; see $dir/pulse.log" >&2; cat "$dir/pulse.log" >&2; rm -rf "$dir"; exit 4; }
  local i
  for i in $(seq 1 50); do
    PULSE_SERVER="unix:$sock" pactl info >/dev/null 2>&1 && break
    sleep 0.1
  done
  PULSE_SERVER="unix:$sock" pactl info >/dev/null 2>&1 || { echo "$0: pulseaudio did not answer" >&2; stop "$dir"; exit 4; }
  PULSE_SERVER="unix:$sock" pactl set-default-sink vspeaker
  PULSE_SERVER="unix:$sock" pactl set-default-source vmic
  printf 'export ANYGPT_PULSE_DIR=%q PULSE_SERVER=%q\n' "$dir" "unix:$sock"
}

stop() {
  local dir=${1:-${ANYGPT_PULSE_DIR:-}}
  [ -n "$dir" ] && [ -d "$dir" ] || { echo "$0: no daemon folder given (pass DIR or set ANYGPT_PULSE_DIR)" >&2; exit 2; }
  local pidfile="$dir/run/pulse/pid"
  if [ -f "$pidfile" ]; then
    local pid; pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}

case "${1:-}" in
  start) start ;;
  stop) stop "${2:-}" ;;
  *) usage ;;
esac
