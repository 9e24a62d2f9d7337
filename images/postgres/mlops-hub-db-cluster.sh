# Sourced by mlops-hub-db and mlops-hub-db-tool: how this image creates and runs a cluster.
BIN=/usr/lib/postgresql/15/bin
# C.UTF-8 ships with Debian's libc (no locales package): UTF8 text, byte-order sorting
CLUSTER_LOCALE=C.UTF-8

# init_cluster DATA: a new UTF8 cluster; the superuser logs in over the local socket only (peer)
init_cluster() {
  "$BIN/initdb" -D "$1" -U postgres -E UTF8 --locale="$CLUSTER_LOCALE" \
    --auth-local=peer --auth-host=scram-sha-256 >/dev/null
  echo "host all all all scram-sha-256" >> "$1/pg_hba.conf"
}

# start_local DATA SOCKET_DIR: a server for set-up work, on a Unix socket only (no TCP)
start_local() {
  mkdir -p "$2"
  "$BIN/pg_ctl" -D "$1" -o "-c listen_addresses='' -c unix_socket_directories=$2" -w start >/dev/null
}

stop_local() {
  "$BIN/pg_ctl" -D "$1" -m fast -w stop >/dev/null
}
