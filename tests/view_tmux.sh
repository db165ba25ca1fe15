# view_tmux.sh - drives shmlog-dump view in a terminal of the test's own: a
# tmux server on a socket of its own, VIEW_COLS x VIEW_LINES. Source it after
# tap.sh (it uses $tmp); end with view_tmux_stop (in the EXIT trap).
#
#   view_start CMD...        CMD in the terminal (stderr to $tmp/view.err); the previous one ends
#   view_keys NAME KEY...    tmux send-keys, with the screen before and after in $tmp/screens.log
#   screen_is FILE           the list rows are FILE's lines (trailing blanks and empty rows aside)
#   screen_has REGEX / status_has TEXT / top_is LINE / top_highlighted TEXT
#   view_alive / view_gone   the viewer runs / has exited; view_pid: its pid
VIEW_COLS=120
VIEW_LINES=40
VIEW_ROWS=$((VIEW_LINES - 1)) # the last row is the status line
view_sock=shmlog-test-view-$$
view_tmux() { tmux -L "$view_sock" -f "$tmp/tmux.conf" "$@"; }
# kill-server returns before the server has exited: a new-session that reaches the dying server dies with
# it (seen under load), so the next view_start waits for the server's process to have exited (a zombie
# until init reaps it; 10 s at most).
view_tmux_stop() {
    local pid
    pid=$(view_tmux display-message -p '#{pid}' 2>/dev/null) || pid=""
    view_tmux kill-server >/dev/null 2>&1 || true
    [ -z "$pid" ] || wait_for 10 process_exited "$pid" || true
}
# process_exited PID: no such process, or a zombie
process_exited() {
    local state
    state=$(ps -o stat= -p "$1") || return 0
    case $state in Z*) return 0 ;; *) return 1 ;; esac
}

view_start() {
    view_tmux_stop
    # A dead viewer's pane stays, so that its last screen and status can be read.
    printf 'set -g remain-on-exit on\nset -g default-terminal screen\nset -g status off\n' >"$tmp/tmux.conf"
    local cmd
    cmd=$(printf '%q ' "$@")
    view_tmux new-session -d -x "$VIEW_COLS" -y "$VIEW_LINES" "exec $cmd 2>>$tmp/view.err"
    printf '\n==== %s\n' "$*" >>"$tmp/screens.log"
}
screen() { view_tmux capture-pane -p "$@" | sed 's/ *$//'; }
# The screen, settled: the same over three looks 100 ms apart (10 s at most).
screen_settled() {
    local a b n=0 same=0
    a=$(screen)
    while [ $same -lt 3 ] && [ $n -lt 100 ]; do
        sleep 0.1
        b=$(screen)
        if [ "$a" = "$b" ]; then same=$((same + 1)); else same=0; fi
        a=$b
        n=$((n + 1))
    done
    printf '%s\n' "$a"
}
view_keys() {
    local name=$1
    shift
    {
        printf -- '---- before: %s (keys:%s) at %s\n' "$name" "$(printf ' %q' "$@")" "$(date +%T.%N | cut -c1-12)"
        screen_settled
    } >>"$tmp/screens.log"
    local k
    for k in "$@"; do
        case $k in
        NPage | PPage | Home | End | Enter | Up | Down | Escape | C-c) view_tmux send-keys "$k" ;;
        *) view_tmux send-keys -l "$k" ;;
        esac
    done
    {
        printf -- '---- after: %s, settled at %s\n' "$name" "$(date +%T.%N | cut -c1-12)"
        screen_settled
    } >>"$tmp/screens.log"
}
drop_empty_tail() { sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'; }
screen_is() { diff <(screen | head -n "$VIEW_ROWS" | drop_empty_tail) <(drop_empty_tail <"$1"); }
screen_has() { screen | grep -qE "$1"; }
status_has() { screen | sed -n "${VIEW_LINES}p" | grep -qF -- "$1"; }
top_is() { [ "$(screen | head -1)" = "$1" ]; }
top_highlighted() { view_tmux capture-pane -p -e | head -1 | grep -qF -- $'\e[7m'"$1"; }
view_pid() { view_tmux display-message -p '#{pane_pid}'; }
view_alive() { [ "$(view_tmux display-message -p '#{pane_dead}')" = 0 ]; }
view_gone() { [ "$(view_tmux display-message -p '#{pane_dead}' 2>/dev/null)" != 0 ]; }
