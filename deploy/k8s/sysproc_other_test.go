//go:build !linux

package k8s

import "syscall"

// sysProcAttr is nil where the kernel has no parent-death signal; the
// tests' cleanups still stop every process they start.
func sysProcAttr() *syscall.SysProcAttr { return nil }
