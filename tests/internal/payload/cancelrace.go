package payload

/*
int pl_cancel_race(void);
*/
import "C"

// CancelRace re-arms a cancellation token on another thread between the
// reads of cgoguard_cancel_request (cancelrace.c): 0 when the request
// cancelled the new call and left the old thread alone; 1 when it paired
// the old thread's slot with the new call's generation; 2 when it
// cancelled neither; negative when the set-up failed.
func CancelRace() int { return int(C.pl_cancel_race()) }
