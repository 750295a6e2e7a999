// Package minidump writes crash dumps in the Minidump format (Microsoft's,
// with the Linux streams of Breakpad and Crashpad), which LLDB and the
// Breakpad/Crashpad tools open: Write, from an Input captured at a fault.
// Linux amd64 only; elsewhere the package is empty.
package minidump
