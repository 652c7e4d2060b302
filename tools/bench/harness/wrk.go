package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"text/template"
	"time"
)

// wrkLoader drives load with wrk: one thread (-t1, so a Lua script's
// counters see every request), --latency for the percentiles, and a Lua
// script generated from the workload when its requests vary.
type wrkLoader struct {
	bin     string // the wrk executable
	dir     string // where scripts are written
	scripts atomic.Int64
}

func (*wrkLoader) Name() string { return "wrk" }

func (l *wrkLoader) Run(ctx context.Context, base string, w Workload, d time.Duration) (Result, error) {
	// wrk takes whole seconds only.
	secs := max(1, int(d.Round(time.Second)/time.Second))
	args := []string{"-t1", "-c", strconv.Itoa(w.conns()), "-d", strconv.Itoa(secs) + "s", "--latency", "--timeout", "5s"}
	if w.static() {
		args = append(args, "-H", "Authorization: "+basicAuth(w.creds()[0]), base+w.Path)
	} else {
		script := filepath.Join(l.dir, fmt.Sprintf("wrk-%d.lua", l.scripts.Add(1)))
		var buf bytes.Buffer
		if err := luaScript.Execute(&buf, luaParams(w)); err != nil {
			return Result{}, fmt.Errorf("rendering wrk script: %w", err)
		}
		if err := os.WriteFile(script, buf.Bytes(), 0o644); err != nil {
			return Result{}, fmt.Errorf("writing wrk script: %w", err)
		}
		args = append(args, "-s", script, base+"/")
	}
	// wrk stops by itself after -d; the extra time only bounds a hang.
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, l.bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return Result{}, fmt.Errorf("running wrk %s: %w: %s%s", strings.Join(args, " "), err, out, stderr.Bytes())
	}
	res, err := parseWrk(string(out))
	if err != nil {
		return Result{}, fmt.Errorf("reading wrk output: %w\n%s", err, out)
	}
	return res, nil
}

// parseWrk reads the text wrk prints with --latency.
func parseWrk(out string) (Result, error) {
	var res Result
	var haveReqs, have50, have99 bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		var err error
		switch {
		case f[0] == "50%" && len(f) == 2:
			res.P50, err = parseWrkDuration(f[1])
			have50 = true
		case f[0] == "99%" && len(f) == 2:
			res.P99, err = parseWrkDuration(f[1])
			have99 = true
		case len(f) >= 4 && f[1] == "requests" && f[2] == "in":
			// "359694 requests in 3.00s, 305.31MB read"
			if res.Requests, err = strconv.ParseInt(f[0], 10, 64); err == nil {
				res.Elapsed, err = parseWrkDuration(strings.TrimSuffix(f[3], ","))
			}
			haveReqs = true
		case f[0] == "Socket" && len(f) >= 10:
			// "Socket errors: connect 0, read 0, write 0, timeout 12"
			for i := 2; i+1 < len(f); i += 2 {
				n, perr := strconv.ParseInt(strings.TrimSuffix(f[i+1], ","), 10, 64)
				if perr != nil {
					err = perr
					break
				}
				res.Errors += n
			}
		case f[0] == "Non-2xx" && len(f) == 5:
			// "Non-2xx or 3xx responses: 5"
			res.Non2xx, err = strconv.ParseInt(f[4], 10, 64)
		case f[0] == "Requests/sec:" && len(f) == 2:
			res.RPS, err = strconv.ParseFloat(f[1], 64)
		}
		if err != nil {
			return Result{}, fmt.Errorf("line %q: %w", sc.Text(), err)
		}
	}
	if !haveReqs || !have50 || !have99 {
		return Result{}, errors.New("no request count or latency distribution (was --latency given?)")
	}
	return res, nil
}

// parseWrkDuration reads wrk's durations: 500.00us, 1.43ms, 3.00s, 2.00m,
// 1.00h.
func parseWrkDuration(s string) (time.Duration, error) {
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil || v < 0 {
				return 0, fmt.Errorf("bad duration %q", s)
			}
			return time.Duration(v * float64(u.unit)), nil
		}
	}
	return 0, fmt.Errorf("bad duration %q", s)
}

// scriptParams are the values luaScript is rendered with.
type scriptParams struct {
	Auths        []string
	Path         string
	Sep          string
	KeyParam     string
	Keys         int
	Sequential   bool
	First        int
	PatchPercent int
	PatchPath    string
	PatchBody    string
	Seed         int64
}

func luaParams(w Workload) scriptParams {
	p := scriptParams{
		Path: w.Path, Sep: "?", KeyParam: w.KeyParam, Keys: w.Keys, Sequential: w.Sequential, First: w.First,
		PatchPercent: w.PatchPercent, PatchPath: w.PatchPath, PatchBody: w.PatchBody, Seed: time.Now().UnixNano() % (1 << 31),
	}
	if strings.Contains(w.Path, "?") {
		p.Sep = "&"
	}
	for _, c := range w.creds() {
		p.Auths = append(p.Auths, basicAuth(c))
	}
	return p
}

// luaScript makes wrk send a Workload. Header tables are built once per
// credential in init; request() only picks one and formats the line.
// Strings are quoted with Go's %q, which Lua reads the same for the ASCII
// these hold.
var luaScript = template.Must(template.New("wrk").Parse(`-- generated by rzpbench
local auths = { {{range .Auths}}{{printf "%q" .}}, {{end}}}
local path = {{printf "%q" .Path}}
local prefix = path .. {{printf "%q" .Sep}} .. {{printf "%q" .KeyParam}} .. "="
local keyed = {{if .KeyParam}}true{{else}}false{{end}}
local keys = {{.Keys}}
local sequential = {{.Sequential}}
local n = {{.First}}
local patchPercent = {{.PatchPercent}}
local patchPath = {{printf "%q" .PatchPath}}
local patchBody = {{printf "%q" .PatchBody}}
local gets, patches = {}, {}
local i = 0

init = function(args)
  math.randomseed({{.Seed}})
  for k, a in ipairs(auths) do
    gets[k] = { ["Authorization"] = a }
    patches[k] = { ["Authorization"] = a, ["Content-Type"] = "application/json" }
  end
end

request = function()
  i = i + 1
  local k = (i % #auths) + 1
  if patchPercent > 0 and math.random(100) <= patchPercent then
    return wrk.format("PATCH", patchPath, patches[k], patchBody)
  end
  local p = path
  if keyed and sequential then
    p = prefix .. n
    n = n + 1
  elseif keyed and keys > 0 then
    p = prefix .. math.random(0, keys - 1)
  end
  return wrk.format("GET", p, gets[k])
end
`))
