{{/* The controllers this release runs: name => values, enabled ones only. */}}
{{- define "eddy.enabled" -}}
{{- $all := dict
  "source-controller" .Values.controllers.source
  "kustomize-controller" .Values.controllers.kustomize
  "helm-controller" .Values.controllers.helm
  "image-automation-controller" .Values.controllers.imageAutomation
  "notification-controller" .Values.controllers.notification -}}
{{- range $name, $c := $all }}{{ if $c.enabled }}{{ $name }} {{ end }}{{ end -}}
{{- end -}}

{{- define "eddy.labels" -}}
app.kubernetes.io/part-of: eddy
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* What each controller's own code calls; see manifests/rbac for the why. */}}
{{- define "eddy.rules.source-controller" -}}
- apiGroups: [source.toolkit.fluxcd.io]
  resources: [gitrepositories, ocirepositories, buckets, helmrepositories, helmcharts]
  verbs: [get, list, watch, patch]
- apiGroups: [source.extensions.fluxcd.io]
  resources: [artifactgenerators]
  verbs: [get, list, watch, patch]
- apiGroups: [source.extensions.fluxcd.io]
  resources: [artifactgenerators/status]
  verbs: [patch]
- apiGroups: [source.toolkit.fluxcd.io]
  resources: [externalartifacts]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [source.toolkit.fluxcd.io]
  resources: [externalartifacts/status]
  verbs: [patch]
- apiGroups: [source.toolkit.fluxcd.io]
  resources: [gitrepositories/status, ocirepositories/status, buckets/status, helmrepositories/status, helmcharts/status]
  verbs: [patch]
- apiGroups: [""]
  resources: [secrets, serviceaccounts]
  verbs: [get]
{{- end -}}

{{- define "eddy.rules.kustomize-controller" -}}
- apiGroups: [kustomize.toolkit.fluxcd.io]
  resources: [kustomizations]
  verbs: [get, list, watch, patch]
- apiGroups: [kustomize.toolkit.fluxcd.io]
  resources: [kustomizations/status]
  verbs: [patch]
- apiGroups: [source.toolkit.fluxcd.io]
  resources: [gitrepositories, ocirepositories, buckets, externalartifacts]
  verbs: [get, list, watch]
# list and watch: the ConfigMaps and Secrets labelled for --watch-configs-label-selector.
- apiGroups: [""]
  resources: [secrets, configmaps]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [serviceaccounts]
  verbs: [impersonate]
{{- end -}}

{{- define "eddy.rules.helm-controller" -}}
- apiGroups: [helm.toolkit.fluxcd.io]
  resources: [helmreleases]
  verbs: [get, list, watch, patch]
- apiGroups: [helm.toolkit.fluxcd.io]
  resources: [helmreleases/status]
  verbs: [patch]
- apiGroups: [source.toolkit.fluxcd.io]
  resources: [helmcharts]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [source.toolkit.fluxcd.io]
  resources: [ocirepositories, externalartifacts]
  verbs: [get, list, watch]
# list and watch: the ConfigMaps and Secrets labelled for --watch-configs-label-selector.
- apiGroups: [""]
  resources: [secrets, configmaps]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [serviceaccounts]
  verbs: [impersonate]
{{- end -}}

{{- define "eddy.rules.image-automation-controller" -}}
- apiGroups: [image.toolkit.fluxcd.io]
  resources: [imagerepositories, imagepolicies, imageupdateautomations]
  verbs: [get, list, watch, patch]
- apiGroups: [image.toolkit.fluxcd.io]
  resources: [imagerepositories/status, imagepolicies/status, imageupdateautomations/status]
  verbs: [patch]
- apiGroups: [source.toolkit.fluxcd.io]
  resources: [gitrepositories]
  verbs: [get, list, watch, patch]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
{{- end -}}

{{- define "eddy.rules.notification-controller" -}}
- apiGroups: [notification.toolkit.fluxcd.io]
  resources: [providers, alerts, receivers]
  verbs: [get, list, watch, patch]
- apiGroups: [notification.toolkit.fluxcd.io]
  resources: [providers/status, alerts/status, receivers/status]
  verbs: [patch]
- apiGroups: [source.toolkit.fluxcd.io]
  resources: [gitrepositories, ocirepositories, helmrepositories, helmcharts, buckets, externalartifacts]
  verbs: [get, list, patch]
- apiGroups: [source.extensions.fluxcd.io]
  resources: [artifactgenerators]
  verbs: [get, list, patch]
- apiGroups: [kustomize.toolkit.fluxcd.io]
  resources: [kustomizations]
  verbs: [get, list, patch]
- apiGroups: [helm.toolkit.fluxcd.io]
  resources: [helmreleases]
  verbs: [get, list, patch]
- apiGroups: [image.toolkit.fluxcd.io]
  resources: [imagerepositories, imagepolicies, imageupdateautomations]
  verbs: [get, list, patch]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
{{- end -}}
