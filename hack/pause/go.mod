// The sandbox (pause) program of the local node's pods, built into eddy's pause image.
module eddy.local/hack/pause

go 1.26.0
