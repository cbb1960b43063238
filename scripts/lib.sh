# Shared helpers for racelab's scripts. Source it; do not run it.
# shellcheck shell=bash

# need_packages installs the Debian packages given whose commands are
# missing. Arguments are pairs: command package.
need_packages() {
	missing=""
	while [ "$#" -ge 2 ]; do
		if ! command -v "$1" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$1" ]; then
			missing="$missing $2"
		fi
		shift 2
	done
	[ -n "$missing" ] || return 0
	if [ "$(id -u)" != "0" ]; then
		echo "racelab: missing packages:$missing; install them (apt-get install$missing) or run as root" >&2
		return 1
	fi
	echo "racelab: installing Debian packages:$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086 # word splitting of the package list is intended
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# need_go checks the Go toolchain the module asks for.
need_go() {
	if ! command -v go >/dev/null 2>&1; then
		if [ -x /usr/local/go/bin/go ]; then
			PATH="/usr/local/go/bin:$PATH"
			export PATH
		else
			echo "racelab: Go 1.26 or newer is required (https://go.dev/dl/)" >&2
			return 1
		fi
	fi
}
