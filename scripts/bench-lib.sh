# Sourced by the bench scripts: a free port, and Debian's CNCF distribution registry on one.

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_registry WORK HOST [NOTIFY_URL SECRET]: serves WORK/registry on HOST (deletes
# enabled; notifications to NOTIFY_URL with the bearer SECRET when given), sets
# registry_pid, and returns once it answers.
start_registry() {
  local work=$1 host=$2
  {
    cat <<YAML
version: 0.1
log: {level: error}
storage:
  filesystem: {rootdirectory: $work/registry}
  delete: {enabled: true}
http:
  addr: $host
YAML
    if [[ -n ${3:-} ]]; then
      cat <<YAML
notifications:
  endpoints:
    - {name: modelark, url: "$3", headers: {Authorization: ["Bearer $4"]}, timeout: 2s, threshold: 100, backoff: 500ms}
YAML
    fi
  } > "$work/registry.yml"
  docker-registry serve "$work/registry.yml" >>"$work/registry.log" 2>&1 &
  registry_pid=$!
  for _ in $(seq 100); do curl -fs "http://$host/v2/" >/dev/null && break; sleep 0.1; done
}
