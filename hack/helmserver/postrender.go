// Post-rendering of a HelmRelease's manifests: spec.postRenderers (kustomize
// patches and images), spec.commonMetadata and the origin labels, in Flux's order.
//
// It runs here, as a Helm PostRenderer inside the action, rather than in the
// controller before or after Helm: Helm then stores the post-rendered manifest in
// the release record, applies exactly that, and diffs the next upgrade against it,
// so `helm get manifest`, `helm history` and the controller's drift detection all
// see what is in the cluster. It uses kustomize's own library (the version already
// in Helm's module graph, so Helm is built against the modules it was released
// with) in memory, without a process per action.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"

	"helm.sh/helm/v3/pkg/postrender"
	"sigs.k8s.io/kustomize/api/builtins"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/provider"
	"sigs.k8s.io/kustomize/api/resmap"
	kustypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// postRender is what a request asks to do to the rendered manifests, in the
// HelmRelease's own field names.
type postRender struct {
	PostRenderers  []postRenderer    `json:"postRenderers,omitempty"`
	CommonMetadata *commonMetadata   `json:"commonMetadata,omitempty"`
	OriginLabels   map[string]string `json:"originLabels,omitempty"`
}

type postRenderer struct {
	Kustomize *kustomizeRenderer `json:"kustomize,omitempty"`
}

type kustomizeRenderer struct {
	Patches []patch `json:"patches,omitempty"`
	Images  []image `json:"images,omitempty"`
}

type patch struct {
	Patch  string    `json:"patch"`
	Target *selector `json:"target,omitempty"`
}

type selector struct {
	Group              string `json:"group,omitempty"`
	Version            string `json:"version,omitempty"`
	Kind               string `json:"kind,omitempty"`
	Namespace          string `json:"namespace,omitempty"`
	Name               string `json:"name,omitempty"`
	AnnotationSelector string `json:"annotationSelector,omitempty"`
	LabelSelector      string `json:"labelSelector,omitempty"`
}

type image struct {
	Name    string `json:"name"`
	NewName string `json:"newName,omitempty"`
	NewTag  string `json:"newTag,omitempty"`
	Digest  string `json:"digest,omitempty"`
}

type commonMetadata struct {
	Annotations map[string]string `json:"annotations,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
}

// step is one post-renderer of the chain.
type step func(*bytes.Buffer) (*bytes.Buffer, error)

// chain runs its steps in order, each on the previous one's output.
type chain []step

func (c chain) Run(manifests *bytes.Buffer) (*bytes.Buffer, error) {
	out := manifests
	for _, s := range c {
		var err error
		if out, err = s(out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// renderer is the Helm PostRenderer for p, nil when there is nothing to do. As in
// Flux: each kustomize post-renderer in spec order, then commonMetadata, then the
// origin labels, which therefore win over a common label with the same key.
func (p *postRender) renderer() postrender.PostRenderer {
	if p == nil {
		return nil
	}
	var c chain
	for i, r := range p.PostRenderers {
		if r.Kustomize != nil {
			c = append(c, r.Kustomize.step(i))
		}
	}
	if m := p.CommonMetadata; m != nil {
		if len(m.Labels) > 0 {
			c = append(c, labelStep(m.Labels))
		}
		if len(m.Annotations) > 0 {
			c = append(c, annotationStep(m.Annotations))
		}
	}
	if len(p.OriginLabels) > 0 {
		c = append(c, labelStep(p.OriginLabels))
	}
	if len(c) == 0 {
		return nil
	}
	return c
}

// kustomize's build shares maps between concurrent runs
// (kubernetes-sigs/kustomize#3659): one build at a time.
var krustyMu sync.Mutex

// step builds a kustomization whose only resource is the rendered manifests.
func (k *kustomizeRenderer) step(index int) step {
	return func(manifests *bytes.Buffer) (*bytes.Buffer, error) {
		fs := filesys.MakeFsInMemory()
		const input = "helm-output.yaml"
		if err := fs.WriteFile(input, manifests.Bytes()); err != nil {
			return nil, err
		}
		cfg := kustypes.Kustomization{Resources: []string{input}}
		cfg.APIVersion, cfg.Kind = kustypes.KustomizationVersion, kustypes.KustomizationKind
		for _, img := range k.Images {
			cfg.Images = append(cfg.Images, kustypes.Image{
				Name: img.Name, NewName: img.NewName, NewTag: img.NewTag, Digest: img.Digest,
			})
		}
		for _, p := range k.Patches {
			made := kustypes.Patch{Patch: p.Patch}
			if t := p.Target; t != nil {
				made.Target = &kustypes.Selector{
					AnnotationSelector: t.AnnotationSelector, LabelSelector: t.LabelSelector,
				}
				made.Target.Group, made.Target.Version, made.Target.Kind = t.Group, t.Version, t.Kind
				made.Target.Namespace, made.Target.Name = t.Namespace, t.Name
			}
			cfg.Patches = append(cfg.Patches, made)
		}
		data, err := json.Marshal(cfg)
		if err != nil {
			return nil, err
		}
		if err := fs.WriteFile("kustomization.yaml", data); err != nil {
			return nil, err
		}
		options := krusty.MakeDefaultOptions() // input order kept, no plugins, no managed-by label
		krustyMu.Lock()
		built, err := krusty.MakeKustomizer(options).Run(fs, ".")
		krustyMu.Unlock()
		if err != nil {
			return nil, fmt.Errorf("spec.postRenderers[%d].kustomize: %w", index, err)
		}
		return asYAML(built)
	}
}

func labelStep(labels map[string]string) step {
	return transform(&builtins.LabelTransformerPlugin{
		Labels:     labels,
		FieldSpecs: []kustypes.FieldSpec{{Path: "metadata/labels", CreateIfNotPresent: true}},
	})
}

func annotationStep(annotations map[string]string) step {
	return transform(&builtins.AnnotationsTransformerPlugin{
		Annotations: annotations,
		FieldSpecs:  []kustypes.FieldSpec{{Path: "metadata/annotations", CreateIfNotPresent: true}},
	})
}

// transform runs one of kustomize's builtin transformers over the manifests.
func transform(t resmap.Transformer) step {
	return func(manifests *bytes.Buffer) (*bytes.Buffer, error) {
		factory := resmap.NewFactory(provider.NewDefaultDepProvider().GetResourceFactory())
		objects, err := factory.NewResMapFromBytes(manifests.Bytes())
		if err != nil {
			return nil, err
		}
		if err := t.Transform(objects); err != nil {
			return nil, err
		}
		return asYAML(objects)
	}
}

func asYAML(objects resmap.ResMap) (*bytes.Buffer, error) {
	data, err := objects.AsYaml()
	if err != nil {
		return nil, err
	}
	return bytes.NewBuffer(data), nil
}

// postRenderCommand is `eddy-helm-server post-render FILE`: the same post-rendering
// as a program for `helm --post-renderer`, reading the manifests on stdin and the
// postRender document from FILE.
func postRenderCommand(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var p postRender
	if err := json.Unmarshal(data, &p); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		return err
	}
	out := bytes.NewBuffer(in)
	if r := p.renderer(); r != nil {
		if out, err = r.Run(out); err != nil {
			return err
		}
	}
	_, err = os.Stdout.Write(out.Bytes())
	return err
}
