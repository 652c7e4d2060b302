package k8s

import "syscall"

// sysProcAttr has the kernel kill a server process when the test binary
// dies (a go test -timeout panic, a ^C), so none is left on its port.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
