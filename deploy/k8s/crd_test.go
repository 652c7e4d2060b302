package k8s

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// promOperator pins the prometheus-operator release whose CRDs the chart's
// ServiceMonitor and PrometheusRule are checked against. The CRD files are
// read from its Go module in the module cache, never copied into this
// repository; go mod download checks the module against the checksum
// database.
const promOperator = "github.com/prometheus-operator/prometheus-operator@v0.85.0"

// promOperatorCRDs are the CRD files the chart needs, under the module's
// example/prometheus-operator-crd.
var promOperatorCRDs = []string{
	"monitoring.coreos.com_servicemonitors.yaml",
	"monitoring.coreos.com_prometheusrules.yaml",
}

// crdFiles downloads promOperator into the module cache, if it is not there
// yet, and returns the paths of promOperatorCRDs in it.
func crdFiles(tmp string) ([]string, error) {
	goPath, err := exec.LookPath("go")
	if err != nil {
		return nil, err
	}
	// Run outside this module so that the download touches no go.mod or
	// go.sum.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goPath, "mod", "download", "-json", promOperator)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	cmd.WaitDelay = time.Second
	out, err := cmd.Output() // On failure the JSON's Error says why.
	var mod struct{ Dir, Error string }
	if jsonErr := json.Unmarshal(out, &mod); jsonErr != nil || mod.Error != "" || mod.Dir == "" {
		return nil, fmt.Errorf("go mod download %s: %v %s %s", promOperator, err, mod.Error, out)
	}
	var paths []string
	for _, name := range promOperatorCRDs {
		p := filepath.Join(mod.Dir, "example", "prometheus-operator-crd", name)
		if _, err := os.Stat(p); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}
