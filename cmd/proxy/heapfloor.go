package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// heapFloor is the heap below which the collector waits for garbage to
// reach it rather than for the live heap to double. A young or small
// gateway's heap is a few MB, which the runtime alone collects every few
// MB of requests' garbage: 33 collections a second under 38k hits a
// second, 7% of the CPU (GODEBUG=gctrace=1), against 3 and 0.7% with the
// floor. Once the heap the collector scans is half the floor, the
// runtime's own rule (GOGC=100) applies unchanged, so a large cache costs
// no more memory.
const heapFloor = 32 << 20

// maxGCPercent bounds the GOGC the floor sets for a nearly empty heap.
const maxGCPercent = 10_000

var floorOnce sync.Once

// setHeapFloor makes every collection set the next one's goal to
// heapFloor, or to twice the live heap once that is higher, and returns
// the floor; if the operator set GOGC it does nothing and returns 0. The
// soft memory limit still binds first.
//
// gctuner (github.com/bytedance/gopkg) does this job from the heap in use
// when its hook runs, which still holds most of the garbage the
// collection found, since sweeping has barely begun: on a small heap its
// goal swings between 6 and 29 MB from one collection to the next. The
// live heap the runtime measured at the end of marking does not swing.
func setHeapFloor(lookup func(string) (string, bool)) int64 {
	if v, _ := lookup("GOGC"); v != "" {
		return 0
	}
	floorOnce.Do(func() {
		f := &floorTuner{floor: heapFloor, percent: 100}
		f.samples[0].Name = "/gc/heap/live:bytes"
		f.samples[1].Name = "/gc/scan/stack:bytes"
		f.samples[2].Name = "/gc/scan/globals:bytes"
		f.arm()
	})
	return heapFloor
}

// floorGCPercent returns the GOGC that puts the next collection's goal at
// floor bytes of heap after one that found live bytes live and scanned
// scan bytes (the live heap, stacks and globals), never below the
// runtime's default of 100. The runtime's goal is live + scan*GOGC/100.
func floorGCPercent(live, scan, floor uint64) int {
	if scan >= floor/2 || live >= floor/2 {
		return 100
	}
	if scan == 0 {
		return maxGCPercent
	}
	return int(min((floor-live)*100/scan, maxGCPercent))
}

// floorTuner sets GOGC after each collection.
type floorTuner struct {
	floor   uint64
	percent int
	samples [3]metrics.Sample // the live heap, stacks and globals
}

// sentinel is garbage from birth: the runtime runs its finalizer after the
// collection that finds it, on the finalizer goroutine, one at a time.
type sentinel struct{ f *floorTuner }

// arm makes a sentinel for the next collection.
func (f *floorTuner) arm() {
	runtime.SetFinalizer(&sentinel{f}, (*sentinel).collected)
}

func (s *sentinel) collected() {
	f := s.f
	metrics.Read(f.samples[:])
	live := f.samples[0].Value.Uint64()
	scan := live + f.samples[1].Value.Uint64() + f.samples[2].Value.Uint64()
	if p := floorGCPercent(live, scan, f.floor); p != f.percent {
		debug.SetGCPercent(p) // stops the world briefly: only on a change
		f.percent = p
	}
	f.arm()
}
