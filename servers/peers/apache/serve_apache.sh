# serve_apache.sh: the launcher of peer:apache-event, -worker and -prefork,
# sourced by ../apache-MPM/serve with PEER and MPM set. One configuration,
# httpd.conf.in (@MPM@ picks the MPM), written to --state-dir as httpd.conf;
# Apache runs from it alone (-f; nothing of /etc/apache2 is read) in the
# foreground with its processes (-DFOREGROUND; -X would make it one
# process). Its choices: ../README.md. --workers is ignored: the process and
# thread counts are fixed so that every MPM holds 1,024 connections.
set -uo pipefail
apache_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$apache_dir/../peer_lib.sh"
source "$apache_dir/../peer_foreground.sh"
peer_parse_args "$PEER" "$@"
APACHE2=$(PATH="$PATH:/usr/sbin:/sbin" command -v apache2) || APACHE2=''
if ((VERSION)); then
  [[ -n $APACHE2 ]] || peer_check_fail "apache2 not installed (apt-get install apache2)"
  peer_print_version "$APACHE2" -v
fi
peer_require_proto http
[[ -n $APACHE2 ]] || peer_check_fail "apache2 not installed (apt-get install apache2)"
[[ -f /usr/lib/apache2/modules/mod_mpm_$MPM.so ]] || peer_check_fail "Apache's $MPM MPM is missing (apt-get install apache2)"
((CHECK)) && exit 0

BACKLOG=$(peer_somaxconn)
USER_LINES=''
if [[ $(id -u) == 0 ]]; then
  USER_LINES="User $(peer_worker_user)
Group $(id -gn "$(peer_worker_user)")"
fi

start_apache() {
  peer_fill "$apache_dir/httpd.conf.in" "$STATE_DIR/httpd.conf" MPM USER_LINES HOST PORT BACKLOG STATE_DIR ROOT
  "$APACHE2" -f "$STATE_DIR/httpd.conf" -DFOREGROUND &
  SERVER_PID=$!
}
peer_run start_apache "$STATE_DIR/error.log"
