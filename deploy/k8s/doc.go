// Package k8s proves the Helm chart against a real Kubernetes API server
// (issue 10). Its go.mod pins the Kubernetes release whose kube-apiserver and
// kubectl `make k8s-tools` builds into deploy/bin; its tests start etcd and
// kube-apiserver on loopback and apply the rendered chart with
// kubectl apply --dry-run=server. Run them with `make test-k8s`.
package k8s
