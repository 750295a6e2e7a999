//go:build linux && amd64

package minidump

import (
	"bufio"
	"bytes"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// The SystemInfo stream of a minidump: the machine (from /proc/cpuinfo) and
// the kernel (from uname).

// systemInfo fills everything but the CSD version string.
func systemInfo() mdSystemInfo {
	si := mdSystemInfo{
		ProcessorArchitecture: mdProcessorAMD64,
		PlatformID:            mdPlatformLinux,
	}
	var uts syscall.Utsname
	if syscall.Uname(&uts) == nil {
		// "6.1.0-18-amd64": 6, 1, 0.
		v := splitVersion(utsString(uts.Release[:]))
		si.MajorVersion, si.MinorVersion, si.BuildNumber = v[0], v[1], v[2]
	}

	cpus := 0
	var vendor string
	family, model, stepping := -1, -1, -1
	sc := bufio.NewScanner(bytes.NewReader(readProcFile("/proc/cpuinfo")))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		n, err := strconv.Atoi(val)
		switch {
		case key == "processor":
			cpus++
		case cpus > 1:
			// The first processor describes them all.
		case key == "vendor_id":
			vendor = val
		case key == "cpu family" && err == nil:
			family = n
		case key == "model" && err == nil:
			model = n
		case key == "stepping" && err == nil:
			stepping = n
		}
	}
	if cpus == 0 {
		cpus = runtime.NumCPU()
	}
	si.NumberOfProcessors = uint8(min(cpus, 255))

	// CPU_INFORMATION: the 12 vendor bytes as cpuid leaf 0 returns them
	// (ebx, edx, ecx), and leaf 1's eax rebuilt from family/model/stepping.
	var v [12]byte
	copy(v[:], vendor)
	for i := range si.VendorID {
		si.VendorID[i] = uint32(v[4*i]) | uint32(v[4*i+1])<<8 | uint32(v[4*i+2])<<16 | uint32(v[4*i+3])<<24
	}
	if family >= 0 && model >= 0 && stepping >= 0 {
		si.ProcessorLevel = uint16(family)
		si.ProcessorRevision = uint16(model<<8 | stepping)
		base, ext := family, 0
		if family > 0xf {
			base, ext = 0xf, family-0xf
		}
		si.VersionInformation = uint32(stepping&0xf | (model&0xf)<<4 | (base&0xf)<<8 |
			(model>>4&0xf)<<16 | (ext&0xff)<<20)
	}
	return si
}

// csdVersion is the kernel's release, version and machine, as Breakpad
// records them ("6.1.0-18-amd64 #1 SMP ... x86_64"); the host name is left out.
func csdVersion() string {
	var uts syscall.Utsname
	if syscall.Uname(&uts) != nil {
		return ""
	}
	return utsString(uts.Release[:]) + " " + utsString(uts.Version[:]) + " " + utsString(uts.Machine[:])
}

func utsString(f []int8) string {
	b := make([]byte, 0, len(f))
	for _, c := range f {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}

// splitVersion reads up to three leading dot-separated numbers.
func splitVersion(s string) [3]uint32 {
	var v [3]uint32
	for i := range v {
		j := 0
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		n, _ := strconv.ParseUint(s[:j], 10, 32)
		v[i] = uint32(n)
		if j >= len(s) || s[j] != '.' {
			break
		}
		s = s[j+1:]
	}
	return v
}
