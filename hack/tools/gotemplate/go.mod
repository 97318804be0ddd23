// Renders commit message templates with Go's own text/template, on data shaped
// as Flux's image-automation-controller shapes it; the tests compare eddy's
// rendering with this one. Standard library only: nothing to download.
module eddy.local/hack/tools/gotemplate

go 1.26.0
