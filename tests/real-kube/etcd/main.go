// Command etcd is the upstream etcd server, built from go.etcd.io/etcd/server/v3
// at the version go.mod pins, for flotilla's real-kube test tier.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
