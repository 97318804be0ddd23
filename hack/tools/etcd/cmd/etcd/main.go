// Command etcd runs the etcd server from its published server module; the
// repository's own main package cannot be installed from the module proxy.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
