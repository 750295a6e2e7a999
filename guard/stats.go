package guard

// Stats are process-wide counters.
type Stats struct {
	Recovered      uint64 // faults recovered by a guard since start
	Interrupted    uint64 // calls interrupted at a deadline or cancellation since start
	HandlerRepairs uint64 // times a replaced handler was put back in front
}
