# Sourced by the scripts: the settings every build and test shares.
export PATH="/usr/local/go/bin:$PATH"
export PATH="$PATH:$(go env GOPATH)/bin"
# libsqlite3: link SQLite from Debian's libsqlite3-dev instead of compiling
# the amalgamation through cgo (about 50 s per build mode on two cores, and
# again for -race). Both builds work; this one is faster.
case " ${GOFLAGS:-} " in
  *libsqlite3*) ;;
  *) export GOFLAGS="${GOFLAGS:+$GOFLAGS }-tags=libsqlite3" ;;
esac
