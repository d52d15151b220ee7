// Small Go programs of our own that the tests run as peers (see harness/go_peers.py).
module lightregistry.test/peers

go 1.25.0

require github.com/google/go-containerregistry v0.22.1
