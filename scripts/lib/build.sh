# quiet_build [swift build arguments]: builds, printing only the last line, or everything on failure.
quiet_build() {
  local log
  log=$(mktemp)
  if swift build "$@" > "$log" 2>&1; then
    tail -1 "$log"
    rm -f "$log"
  else
    cat "$log" >&2
    rm -f "$log"
    echo "build failed" >&2
    return 1
  fi
}
