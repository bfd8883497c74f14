//go:build unix

package main

import "syscall"

// detachedProcess starts a process in a session of its own: it outlives
// the command that started it and its terminal's signals.
func detachedProcess() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }
