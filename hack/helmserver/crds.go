package main

// The CRDs of a chart's crds/ directories, applied under a HelmRelease's policy.
//
// Helm creates missing CRDs on install and never touches them on upgrade; Flux's
// helm-controller applies them itself before either action, under a policy: Skip
// applies none, Create creates the missing ones and leaves existing ones as they
// are, CreateReplace also replaces the existing ones with the chart's. None is ever
// deleted, and none is part of the release's manifest.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/kube"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/resource"
)

const (
	crdSkip          = "Skip"
	crdCreate        = "Create"
	crdCreateReplace = "CreateReplace"
	// How long new or replaced CRDs have to become Established, as Helm allows.
	crdEstablishTimeout = 60 * time.Second
)

// crdPolicy is the --crds flag, and whether it was given.
func (c *command) crdPolicy() (string, bool) {
	found := c.values["--crds"]
	if len(found) == 0 {
		return "", false
	}
	return found[len(found)-1], true
}

// crdLabels are the --crd-label key=value pairs, set on every CRD applied.
func (c *command) crdLabels() map[string]string {
	labels := map[string]string{}
	for _, pair := range c.values["--crd-label"] {
		if key, value, ok := strings.Cut(pair, "="); ok {
			labels[key] = value
		}
	}
	return labels
}

func applyCRDs(cfg *action.Configuration, shared *cluster, policy string, ch *chart.Chart,
	vals map[string]interface{}, labels map[string]string) error {
	switch policy {
	case crdSkip:
		return nil
	case crdCreate, crdCreateReplace:
	default:
		return fmt.Errorf("invalid CRD policy '%s': use %s, %s or %s", policy, crdSkip, crdCreate, crdCreateReplace)
	}
	if len(ch.CRDObjects()) == 0 {
		return nil
	}
	// Subcharts switched off by their condition or tags bring no CRDs.
	if err := chartutil.ProcessDependenciesWithMerge(ch, vals); err != nil {
		return fmt.Errorf("failed to process chart dependencies: %w", err)
	}
	crds, err := chartCRDs(cfg, ch)
	if err != nil {
		return err
	}
	manager := filepath.Base(os.Args[0])
	var applied kube.ResourceList
	for _, info := range crds {
		if err := mergeLabels(info, labels); err != nil {
			return err
		}
		helper := resource.NewHelper(info.Client, info.Mapping).WithFieldManager(manager)
		exists := false
		if policy == crdCreateReplace {
			_, err := helper.Get("", info.Name)
			switch {
			case err == nil:
				exists = true
			case !apierrors.IsNotFound(err):
				return fmt.Errorf("failed to get CustomResourceDefinition %s: %w", info.Name, err)
			}
		}
		if exists {
			made, err := helper.Replace("", info.Name, true, info.Object)
			if err != nil {
				return fmt.Errorf("failed to replace CustomResourceDefinition %s: %w", info.Name, err)
			}
			_ = info.Refresh(made, true)
			applied = append(applied, info)
			continue
		}
		made, err := helper.Create("", true, info.Object)
		if err != nil {
			if policy == crdCreate && apierrors.IsAlreadyExists(err) {
				continue // Create leaves an existing CRD as it is.
			}
			return fmt.Errorf("failed to create CustomResourceDefinition %s: %w", info.Name, err)
		}
		_ = info.Refresh(made, true)
		applied = append(applied, info)
	}
	if len(applied) == 0 {
		return nil
	}
	if err := cfg.KubeClient.Wait(applied, crdEstablishTimeout); err != nil {
		return fmt.Errorf("failed to wait for CustomResourceDefinition(s): %w", err)
	}
	// The cluster's shared discovery and mapper must learn the new kinds before the
	// chart's templates, which may use them, are sent.
	shared.discovery.Invalidate()
	meta.MaybeResetRESTMapper(shared.mapper)
	return nil
}

// chartCRDs reads the CustomResourceDefinitions of the chart's crds/ directories;
// anything else placed there is left out with a warning, as Flux does.
func chartCRDs(cfg *action.Configuration, ch *chart.Chart) (kube.ResourceList, error) {
	var crds kube.ResourceList
	for _, file := range ch.CRDObjects() {
		found, err := cfg.KubeClient.Build(bytes.NewBuffer(file.File.Data), false)
		if err != nil {
			return nil, fmt.Errorf("failed to parse CustomResourceDefinitions from %s: %w", file.Name, err)
		}
		for _, info := range found {
			gvk := info.Mapping.GroupVersionKind
			if gvk.Group != "apiextensions.k8s.io" || gvk.Kind != "CustomResourceDefinition" {
				fmt.Fprintf(os.Stderr, "eddy-helm-server: %s: ignoring %s %q in crds/, which holds CRDs only\n",
					ch.Name(), gvk.Kind, info.Name)
				continue
			}
			crds = append(crds, info)
		}
	}
	return crds, nil
}

func mergeLabels(info *resource.Info, labels map[string]string) error {
	if len(labels) == 0 {
		return nil
	}
	accessor := meta.NewAccessor()
	current, err := accessor.Labels(info.Object)
	if err != nil {
		return fmt.Errorf("CustomResourceDefinition %s: %w", info.Name, err)
	}
	merged := map[string]string{}
	for k, v := range current {
		merged[k] = v
	}
	for k, v := range labels {
		merged[k] = v
	}
	return accessor.SetLabels(info.Object, merged)
}
