// Package helm tests the Helm chart in rzpgate/: it lints, renders with
// default values and with every toggle on, decodes strictly into the
// Kubernetes API's own types, and renders a configuration the gateway's
// binary accepts. test-k8s (deploy/k8s) sends the same renderings to a real
// kube-apiserver.
package helm
