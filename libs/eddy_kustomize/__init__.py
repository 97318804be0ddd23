"""kustomize build with Flux's rules, for the kustomize-controller and the `eddy` command.

Writing the spec's options into kustomization.yaml, confining every path to the
source, running the pinned kustomize, substituting variables: one implementation,
so `eddy plan` renders exactly what the controller would apply.
"""
