package main

// Health expressions (a HelmRelease's spec.healthCheckExprs) are the controller's
// to evaluate: when Helm waits for a release's objects, those of the kinds the
// request names are sent back to the controller on stdout as a "judge" line, and
// Helm's wait ends with the controller's verdict (a "judged" line on stdin). A
// verdict naming a failed object fails the action as any failed wait does, so
// Helm records the release as failed.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/kube"
)

// healthKind is one healthCheckExprs entry's selector: its API group, and a
// kind (empty for every kind of the group).
type healthKind struct {
	Group string `json:"group"`
	Kind  string `json:"kind"`
}

// judged object, as sent to the controller.
type judgedObject struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   map[string]string `json:"metadata"`
}

// judgeRequest is the line asking the controller for a verdict on objects.
type judgeRequest struct {
	ID      int64          `json:"id"`
	Judge   []judgedObject `json:"judge"`
	Timeout float64        `json:"timeout"`
}

// verdicts hands each "judged" line to the action waiting for it.
type verdicts struct {
	mu      sync.Mutex
	waiting map[int64]chan string
}

func newVerdicts() *verdicts { return &verdicts{waiting: map[int64]chan string{}} }

func (v *verdicts) expect(id int64) chan string {
	v.mu.Lock()
	defer v.mu.Unlock()
	ch := make(chan string, 1)
	v.waiting[id] = ch
	return ch
}

func (v *verdicts) forget(id int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.waiting, id)
}

func (v *verdicts) deliver(id int64, verdict string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if ch, ok := v.waiting[id]; ok {
		ch <- verdict
		delete(v.waiting, id)
	}
}

// judgedClient is Helm's client whose waits end with the controller's verdict on
// the objects of the kinds in `kinds`.
type judgedClient struct {
	*kube.Client
	ctx      context.Context
	id       int64
	kinds    []healthKind
	verdicts *verdicts
	ask      func(judgeRequest)
}

func (j judgedClient) Wait(resources kube.ResourceList, timeout time.Duration) error {
	started := time.Now()
	if err := j.Client.Wait(resources, timeout); err != nil {
		return err
	}
	return j.judge(resources, timeout-time.Since(started))
}

func (j judgedClient) WaitWithJobs(resources kube.ResourceList, timeout time.Duration) error {
	started := time.Now()
	if err := j.Client.WaitWithJobs(resources, timeout); err != nil {
		return err
	}
	return j.judge(resources, timeout-time.Since(started))
}

func (j judgedClient) selects(group, kind string) bool {
	for _, k := range j.kinds {
		if k.Group == group && (k.Kind == "" || k.Kind == kind) {
			return true
		}
	}
	return false
}

func (j judgedClient) judge(resources kube.ResourceList, left time.Duration) error {
	var objects []judgedObject
	for _, info := range resources {
		gvk := info.Object.GetObjectKind().GroupVersionKind()
		if !j.selects(gvk.Group, gvk.Kind) {
			continue
		}
		meta := map[string]string{"name": info.Name}
		if info.Namespace != "" {
			meta["namespace"] = info.Namespace
		}
		objects = append(objects, judgedObject{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind, Metadata: meta})
	}
	if len(objects) == 0 {
		return nil
	}
	if left <= 0 {
		return errors.New("timed out waiting for the condition")
	}
	ch := j.verdicts.expect(j.id)
	defer j.verdicts.forget(j.id)
	j.ask(judgeRequest{ID: j.id, Judge: objects, Timeout: left.Seconds()})
	select {
	case verdict := <-ch:
		if verdict != "" {
			return errors.New(verdict)
		}
		return nil
	case <-j.ctx.Done():
		return fmt.Errorf("waiting for %s: %w", strings.ToLower(objects[0].Kind), j.ctx.Err())
	}
}
