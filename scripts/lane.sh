# Sourced by the lanes that build for another platform (windows-lane.sh, arm64-lane.sh).
TIMEFORMAT='   (%R s)'
step() { echo "== $*"; }
# apt_install PKG...: installs what is given (nothing if nothing is), quietly, and times it.
apt_install() {
  [ $# -gt 0 ] || return 0
  step "apt-get install $*"
  export DEBIAN_FRONTEND=noninteractive
  time { apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }
}
