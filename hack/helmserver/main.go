// Command eddy-helm-server runs Helm's release actions for the helm-controller in
// one long-running process instead of one helm process per action.
//
// It reads one JSON request per line on stdin and writes one JSON answer per line
// on stdout; requests run concurrently. A request holds the helm command line the
// controller would otherwise run (the same actions and flags, a subset of helm's)
// and the path of the kubeconfig to use. Clients, discovery and OpenAPI documents
// are kept per cluster identity (the kubeconfig's bytes), so each action pays only
// for its own API calls. Releases are made by Helm's own library at the version
// the helm binary is pinned to, so `helm list` and `helm history` read them as
// their own. An install or upgrade request may carry a postRender document
// (postrender.go); `eddy-helm-server post-render FILE` does the same
// post-rendering as a program for `helm --post-renderer`.
package main

import (
	"bufio"
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/getter"
	"helm.sh/helm/v3/pkg/kube"
	"helm.sh/helm/v3/pkg/postrender"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/kubectl/pkg/validation"
)

// How many cluster identities keep their clients and caches.
const keptClusters = 32

// request is one line of stdin: an action to run, or the cancellation of one.
type request struct {
	ID         int64    `json:"id"`
	Args       []string `json:"args"`
	Kubeconfig string   `json:"kubeconfig"`
	Cancel     bool     `json:"cancel"`
	// What install and upgrade do to the rendered manifests (see postrender.go).
	PostRender *postRender `json:"postRender,omitempty"`
	// The kinds whose objects the controller judges when Helm waits (judge.go).
	HealthChecks []healthKind `json:"healthChecks,omitempty"`
	// A verdict for this request's objects, in answer to a judge line.
	Judged  bool   `json:"judged,omitempty"`
	Verdict string `json:"verdict,omitempty"`
}

// answer is one line of stdout: the outcome of the request with the same id.
type answer struct {
	ID    int64  `json:"id"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// cluster is what every action against one cluster identity shares.
type cluster struct {
	raw       clientcmdapi.Config
	config    *rest.Config
	discovery discovery.CachedDiscoveryInterface
	mapper    meta.RESTMapper

	mu         sync.Mutex
	validators map[string]validation.Schema
}

// validator is kubectl's schema check for a validation directive, made once. Each
// one made anew reads and parses the server's OpenAPI documents again to learn
// that it validates fields itself: most of an action's CPU otherwise.
func (c *cluster) validator(directive string, f kube.Factory) (validation.Schema, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if found, ok := c.validators[directive]; ok {
		return found, nil
	}
	made, err := f.Validator(directive)
	if err != nil {
		return nil, err
	}
	c.validators[directive] = made
	return made, nil
}

// sharedValidators is Helm's factory with the cluster's validators.
type sharedValidators struct {
	kube.Factory
	c *cluster
}

func (f sharedValidators) Validator(directive string) (validation.Schema, error) {
	return f.c.validator(directive, f.Factory)
}

// clusterGetter hands Helm the shared cluster with the request's namespace as default.
type clusterGetter struct {
	c         *cluster
	namespace string
}

func (g clusterGetter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.c.config), nil }

func (g clusterGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	return g.c.discovery, nil
}

func (g clusterGetter) ToRESTMapper() (meta.RESTMapper, error) { return g.c.mapper, nil }

func (g clusterGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	overrides := &clientcmd.ConfigOverrides{Context: clientcmdapi.Context{Namespace: g.namespace}}
	return clientcmd.NewDefaultClientConfig(g.c.raw, overrides)
}

// clusters keeps the most recently used cluster identities.
type clusters struct {
	mu    sync.Mutex
	order *list.List // of [32]byte, most recent first
	byKey map[[32]byte]*list.Element
	items map[[32]byte]*cluster
}

func newClusters() *clusters {
	return &clusters{order: list.New(), byKey: map[[32]byte]*list.Element{}, items: map[[32]byte]*cluster{}}
}

func (cs *clusters) get(path string) (*cluster, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the kubeconfig: %w", err)
	}
	key := sha256.Sum256(data)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if found, ok := cs.items[key]; ok {
		cs.order.MoveToFront(cs.byKey[key])
		return found, nil
	}
	made, err := newCluster(data)
	if err != nil {
		return nil, err
	}
	cs.items[key] = made
	cs.byKey[key] = cs.order.PushFront(key)
	for cs.order.Len() > keptClusters {
		last := cs.order.Back()
		old := last.Value.([32]byte)
		cs.order.Remove(last)
		delete(cs.byKey, old)
		delete(cs.items, old)
	}
	return made, nil
}

func newCluster(data []byte) (*cluster, error) {
	raw, err := clientcmd.Load(data)
	if err != nil {
		return nil, fmt.Errorf("reading the kubeconfig: %w", err)
	}
	config, err := clientcmd.NewDefaultClientConfig(*raw, nil).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("reading the kubeconfig: %w", err)
	}
	// The helm command's own limits (--burst-limit 100; client-go's default QPS).
	config.Burst = 100
	disco, err := discovery.NewDiscoveryClientForConfig(rest.CopyConfig(config))
	if err != nil {
		return nil, err
	}
	cached := memory.NewMemCacheClient(disco)
	mapper := restmapper.NewShortcutExpander(restmapper.NewDeferredDiscoveryRESTMapper(cached), cached, nil)
	return &cluster{
		raw: *raw, config: config, discovery: cached, mapper: mapper,
		validators: map[string]validation.Schema{},
	}, nil
}

// command is a parsed helm command line.
type command struct {
	action string
	args   []string
	bools  map[string]bool
	values map[string][]string
}

var valueFlags = map[string]bool{
	"--namespace": true, "--values": true, "--timeout": true, "--history-max": true,
	"--cascade": true, "--filter": true,
	"--storage-namespace": true, "--crds": true, "--crd-label": true,
}

var boolFlags = map[string]bool{
	"--wait": true, "--wait-for-jobs": true, "--no-hooks": true, "--disable-openapi-validation": true,
	"--skip-schema-validation": true, "--take-ownership": true, "--create-namespace": true,
	"--replace": true, "--skip-crds": true, "--reuse-values": true, "--reset-values": true,
	"--force": true, "--cleanup-on-fail": true, "--recreate-pods": true, "--keep-history": true,
}

func parse(argv []string) (*command, error) {
	if len(argv) == 0 {
		return nil, errors.New("no action given")
	}
	c := &command{action: argv[0], bools: map[string]bool{}, values: map[string][]string{}}
	for i := 1; i < len(argv); i++ {
		arg := argv[i]
		switch {
		case valueFlags[arg]:
			if i+1 >= len(argv) {
				return nil, fmt.Errorf("flag needs an argument: %s", arg)
			}
			c.values[arg] = append(c.values[arg], argv[i+1])
			i++
		case boolFlags[arg]:
			c.bools[arg] = true
		case strings.HasPrefix(arg, "-"):
			return nil, fmt.Errorf("unknown flag: %s", arg)
		default:
			c.args = append(c.args, arg)
		}
	}
	return c, nil
}

func (c *command) value(flag, fallback string) string {
	if found := c.values[flag]; len(found) > 0 {
		return found[len(found)-1]
	}
	return fallback
}

func (c *command) timeout() (time.Duration, error) {
	return time.ParseDuration(c.value("--timeout", "5m0s"))
}

func (c *command) historyMax() (int, error) {
	return strconv.Atoi(c.value("--history-max", "10"))
}

func (c *command) wantArgs(n int, usage string) error {
	if len(c.args) != n {
		return fmt.Errorf("%q requires %d arguments\n\nUsage:  helm %s", c.action, n, usage)
	}
	return nil
}

// loadChart reads a chart directory and its values as the helm command does.
func (c *command) loadChart(path string) (*chart.Chart, map[string]interface{}, error) {
	opts := values.Options{ValueFiles: c.values["--values"]}
	vals, err := opts.MergeValues(getter.Providers{})
	if err != nil {
		return nil, nil, err
	}
	ch, err := loader.Load(path)
	if err != nil {
		return nil, nil, err
	}
	if req := ch.Metadata.Dependencies; req != nil {
		if err := action.CheckDependencies(ch, req); err != nil {
			return nil, nil, fmt.Errorf("An error occurred while checking for chart dependencies. "+
				"You may need to run `helm dependency build` to fetch missing dependencies: %w", err)
		}
	}
	return ch, vals, nil
}

func run(ctx context.Context, cs *clusters, req request, judging judgedClient) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("helm panicked: %v", p)
			fmt.Fprintf(os.Stderr, "eddy-helm-server: panic in %v: %v\n%s", req.Args, p, debug.Stack())
		}
	}()
	c, err := parse(req.Args)
	if err != nil {
		return err
	}
	namespace := c.value("--namespace", "default")
	// Helm's records live here; the release's objects in namespace.
	storage := c.value("--storage-namespace", namespace)
	shared, err := cs.get(req.Kubeconfig)
	if err != nil {
		return err
	}
	cfg := &action.Configuration{}
	if err := cfg.Init(clusterGetter{shared, namespace}, storage, "secret", func(string, ...interface{}) {}); err != nil {
		return err
	}
	kc := cfg.KubeClient.(*kube.Client)
	kc.Namespace = namespace
	kc.Factory = sharedValidators{kc.Factory, shared}
	if len(req.HealthChecks) > 0 {
		judging.Client, judging.ctx, judging.id, judging.kinds = kc, ctx, req.ID, req.HealthChecks
		cfg.KubeClient = judging
	}
	timeout, err := c.timeout()
	if err != nil {
		return fmt.Errorf("invalid argument for \"--timeout\" flag: %w", err)
	}
	switch c.action {
	case "install":
		if err := c.wantArgs(2, "install [NAME] [CHART] [flags]"); err != nil {
			return err
		}
		if err := install(ctx, cfg, shared, c, namespace, timeout, req.PostRender.renderer()); err != nil {
			return fmt.Errorf("INSTALLATION FAILED: %w", err)
		}
		return nil
	case "upgrade":
		if err := c.wantArgs(2, "upgrade [RELEASE] [CHART] [flags]"); err != nil {
			return err
		}
		if err := upgrade(ctx, cfg, shared, c, namespace, timeout, req.PostRender.renderer()); err != nil {
			return fmt.Errorf("UPGRADE FAILED: %w", err)
		}
		return nil
	case "rollback":
		if err := c.wantArgs(2, "rollback <RELEASE> [REVISION] [flags]"); err != nil {
			return err
		}
		return rollback(cfg, c, timeout)
	case "uninstall":
		if err := c.wantArgs(1, "uninstall RELEASE_NAME [...] [flags]"); err != nil {
			return err
		}
		client := action.NewUninstall(cfg)
		client.Timeout = timeout
		client.Wait = c.bools["--wait"]
		client.KeepHistory = c.bools["--keep-history"]
		client.DisableHooks = c.bools["--no-hooks"]
		client.DeletionPropagation = c.value("--cascade", "background")
		_, err := client.Run(c.args[0])
		return err
	case "test":
		if err := c.wantArgs(1, "test [RELEASE] [flags]"); err != nil {
			return err
		}
		return test(cfg, c, namespace, timeout)
	}
	return fmt.Errorf("unknown action %q", c.action)
}

func install(ctx context.Context, cfg *action.Configuration, shared *cluster, c *command, namespace string, timeout time.Duration, pr postrender.PostRenderer) error {
	ch, vals, err := c.loadChart(c.args[1])
	if err != nil {
		return err
	}
	switch ch.Metadata.Type {
	case "", "application":
	default:
		return fmt.Errorf("%s charts are not installable", ch.Metadata.Type)
	}
	client := action.NewInstall(cfg)
	client.ReleaseName = c.args[0]
	client.Namespace = namespace
	client.DryRunOption = "none"
	client.Timeout = timeout
	client.Wait = c.bools["--wait"]
	client.WaitForJobs = c.bools["--wait-for-jobs"]
	client.DisableHooks = c.bools["--no-hooks"]
	client.DisableOpenAPIValidation = c.bools["--disable-openapi-validation"]
	client.SkipSchemaValidation = c.bools["--skip-schema-validation"]
	client.TakeOwnership = c.bools["--take-ownership"]
	client.CreateNamespace = c.bools["--create-namespace"]
	client.Replace = c.bools["--replace"]
	client.SkipCRDs = c.bools["--skip-crds"]
	if policy, ok := c.crdPolicy(); ok {
		// The policy decides, not Helm's own creation of missing CRDs.
		client.SkipCRDs = true
		if err := applyCRDs(cfg, shared, policy, ch, vals, c.crdLabels()); err != nil {
			return err
		}
	}
	client.PostRenderer = pr
	_, err = client.RunWithContext(ctx, ch, vals)
	return err
}

func upgrade(ctx context.Context, cfg *action.Configuration, shared *cluster, c *command, namespace string, timeout time.Duration, pr postrender.PostRenderer) error {
	ch, vals, err := c.loadChart(c.args[1])
	if err != nil {
		return err
	}
	history, err := c.historyMax()
	if err != nil {
		return fmt.Errorf("invalid argument for \"--history-max\" flag: %w", err)
	}
	client := action.NewUpgrade(cfg)
	client.Namespace = namespace
	client.DryRunOption = "none"
	client.Timeout = timeout
	client.MaxHistory = history
	client.Wait = c.bools["--wait"]
	client.WaitForJobs = c.bools["--wait-for-jobs"]
	client.DisableHooks = c.bools["--no-hooks"]
	client.DisableOpenAPIValidation = c.bools["--disable-openapi-validation"]
	client.SkipSchemaValidation = c.bools["--skip-schema-validation"]
	client.TakeOwnership = c.bools["--take-ownership"]
	client.ResetValues = c.bools["--reset-values"]
	client.ReuseValues = c.bools["--reuse-values"]
	client.Force = c.bools["--force"]
	client.CleanupOnFail = c.bools["--cleanup-on-fail"]
	client.SkipCRDs = c.bools["--skip-crds"]
	if policy, ok := c.crdPolicy(); ok {
		if err := applyCRDs(cfg, shared, policy, ch, vals, c.crdLabels()); err != nil {
			return err
		}
	}
	client.PostRenderer = pr
	_, err = client.RunWithContext(ctx, c.args[0], ch, vals)
	return err
}

func rollback(cfg *action.Configuration, c *command, timeout time.Duration) error {
	version, err := strconv.Atoi(c.args[1])
	if err != nil {
		return fmt.Errorf("could not convert revision to a number: %w", err)
	}
	history, err := c.historyMax()
	if err != nil {
		return fmt.Errorf("invalid argument for \"--history-max\" flag: %w", err)
	}
	client := action.NewRollback(cfg)
	client.Version = version
	client.Timeout = timeout
	client.MaxHistory = history
	client.Wait = c.bools["--wait"]
	client.WaitForJobs = c.bools["--wait-for-jobs"]
	client.DisableHooks = c.bools["--no-hooks"]
	client.Force = c.bools["--force"]
	client.Recreate = c.bools["--recreate-pods"]
	client.CleanupOnFail = c.bools["--cleanup-on-fail"]
	return client.Run(c.args[0])
}

func test(cfg *action.Configuration, c *command, namespace string, timeout time.Duration) error {
	client := action.NewReleaseTesting(cfg)
	client.Namespace = namespace
	client.Timeout = timeout
	for _, f := range c.values["--filter"] {
		switch {
		case strings.HasPrefix(f, "name="):
			client.Filters[action.IncludeNameFilter] = append(client.Filters[action.IncludeNameFilter], strings.TrimPrefix(f, "name="))
		case strings.HasPrefix(f, "!name="):
			client.Filters[action.ExcludeNameFilter] = append(client.Filters[action.ExcludeNameFilter], strings.TrimPrefix(f, "!name="))
		}
	}
	_, err := client.Run(c.args[0])
	return err
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "post-render" {
		if err := postRenderCommand(os.Args[2]); err != nil {
			fmt.Fprintf(os.Stderr, "eddy-helm-server: %v\n", err)
			os.Exit(1)
		}
		return
	}
	// A CPU profile of the whole run, for finding what an action costs.
	if path := os.Getenv("EDDY_HELM_SERVER_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			if err := pprof.StartCPUProfile(f); err == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	cs := newClusters()
	var mu sync.Mutex
	out := json.NewEncoder(os.Stdout)
	write := func(line any) {
		mu.Lock()
		defer mu.Unlock()
		if err := out.Encode(line); err != nil {
			fmt.Fprintf(os.Stderr, "eddy-helm-server: writing an answer: %v\n", err)
			os.Exit(1)
		}
	}
	reply := func(a answer) { write(a) }
	judging := judgedClient{verdicts: newVerdicts(), ask: func(r judgeRequest) { write(r) }}
	cancels := map[int64]context.CancelFunc{}
	var cmu sync.Mutex
	var running sync.WaitGroup
	in := bufio.NewReader(os.Stdin)
	for {
		line, err := in.ReadBytes('\n')
		if len(line) > 0 {
			var req request
			if jerr := json.Unmarshal(line, &req); jerr != nil {
				fmt.Fprintf(os.Stderr, "eddy-helm-server: unreadable request: %v\n", jerr)
				os.Exit(2)
			}
			if req.Judged {
				judging.verdicts.deliver(req.ID, req.Verdict)
				continue
			}
			if req.Cancel {
				cmu.Lock()
				if cancel, ok := cancels[req.ID]; ok {
					cancel()
				}
				cmu.Unlock()
				continue
			}
			ctx, cancel := context.WithCancel(context.Background())
			cmu.Lock()
			cancels[req.ID] = cancel
			cmu.Unlock()
			running.Add(1)
			go func() {
				defer running.Done()
				err := run(ctx, cs, req, judging)
				cmu.Lock()
				delete(cancels, req.ID)
				cmu.Unlock()
				cancel()
				if err != nil {
					reply(answer{ID: req.ID, Error: err.Error()})
					return
				}
				reply(answer{ID: req.ID, OK: true})
			}()
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "eddy-helm-server: reading requests: %v\n", err)
			break
		}
	}
	// stdin closed: the controller is stopping; cancel what can be, finish the rest.
	cmu.Lock()
	for _, cancel := range cancels {
		cancel()
	}
	cmu.Unlock()
	running.Wait()
}
