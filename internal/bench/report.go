package bench

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// WriteTable writes the report for people: the table of every cell, then
// the provisioning speed, the tables' sizes, the server's memory and
// start-up time, and the scale and age comparisons when they ran.
func (r *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "rotor bench: %s backend, %d CPUs (%s), %s, %s\n", r.Backend, r.Machine.CPUs, orDash(r.Machine.Model), r.Machine.GoVersion, r.Machine.OS)
	fmt.Fprintf(w, "each cell: %.1fs warm-up, then %.1fs measured; run took %.0fs; load average %.2f at start, %.2f at end\n\n",
		r.Warmup, r.Duration, r.Seconds, r.Machine.LoadStart, r.Machine.LoadEnd)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "grant\tbackend\tfamilies\tconc\treq/s\tp50 ms\tp95 ms\tp99 ms\terrors\tsrv cpu s/1k\tdb cpu s/1k\tvs floor\tsrv rss MB\t")
	for _, row := range r.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%.2f\t%.2f\t%.2f\t%d\t%s\t%s\t%s\t%s\t\n",
			row.Grant, row.Backend, count(row.Families), row.Concurrency, thousands(int64(row.RPS+0.5)),
			row.P50, row.P95, row.P99, row.Errors, cpuText(row.ServerCPUPer1k), cpuText(row.DBCPUPer1k),
			ratioText(row.FloorRatio), mb(row.PeakRSS))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "srv cpu: CPU seconds of the server process per 1,000 requests; db cpu: the same for the PostgreSQL")
	fmt.Fprintln(w, "processes on this machine (SQLite runs inside the server); the load generator shares the same CPUs.")
	var wal []string
	for _, row := range r.Rows {
		if row.WALPerRequest > 0 {
			wal = append(wal, fmt.Sprintf("%s c=%d at %s families: %s", row.Grant, row.Concurrency,
				thousands(int64(row.Families)), thousands(int64(row.WALPerRequest+0.5))))
		}
	}
	if len(wal) > 0 {
		fmt.Fprintf(w, "PostgreSQL WAL bytes per request: %s\n", strings.Join(wal, "; "))
	}
	for _, row := range r.Rows {
		if row.Exhausted {
			fmt.Fprintf(w, "(%s at concurrency %d ran out of tokens after %.1fs; its rate is over that time)\n", row.Grant, row.Concurrency, row.Seconds)
		}
	}

	if len(r.Provisioning) > 0 {
		fmt.Fprintln(w, "\nprovisioning (straight through the store, bulk inserts)")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "families\tseconds\tfamilies/s\ttotal after\t")
		for _, p := range r.Provisioning {
			fmt.Fprintf(tw, "%s\t%.1f\t%s\t%s\t\n", thousands(int64(p.Families)), p.Seconds, thousands(int64(p.PerSec)), thousands(int64(p.Total)))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	if len(r.Sizes) > 0 {
		fmt.Fprintln(w, "\ntables (rows, bytes on disk with indexes)")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "when\tfamilies rows\tfamilies MB\tevents rows\tevents MB\t")
		for _, s := range r.Sizes {
			cells := []string{s.Label}
			for _, name := range sizedTables {
				for _, t := range s.Tables {
					if t.Table == name {
						cells = append(cells, thousands(t.Rows), mb(t.Bytes))
					}
				}
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	if m := r.Memory; m != nil {
		fmt.Fprintf(w, "\nserver memory (RSS): idle at start %s MB, idle after the run %s MB", mb(m.IdleStart), mb(m.IdleEnd))
		for _, c := range sortedKeys(m.PeakByConcurrency) {
			fmt.Fprintf(w, "; peak at c=%d %s MB", c, mb(m.PeakByConcurrency[c]))
		}
		fmt.Fprintln(w)
	}
	if s := r.Startup; s != nil {
		fmt.Fprintf(w, "rotor serve on a new SQLite database answered its metadata %.0f ms after start\n", s.MetadataSeconds*1000)
	}

	if sc := r.scaleRows(); len(sc) > 0 {
		fmt.Fprintln(w, "\nrefresh_token by size of the families table")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "conc\tfamilies\treq/s\tp99 ms\tfamilies\treq/s\tp99 ms\tratio\t")
		for _, p := range sc {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%.2f\t%s\t%s\t%.2f\t%.0f%%\t\n", p[0].Concurrency,
				thousands(int64(p[0].Families)), thousands(int64(p[0].RPS+0.5)), p[0].P99,
				thousands(int64(p[1].Families)), thousands(int64(p[1].RPS+0.5)), p[1].P99, 100*p[1].RPS/p[0].RPS)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if a := r.Age; a != nil {
		fmt.Fprintf(w, "\nchain age: one chain refreshed %s times (%.1fs, p50 %.3f ms over its first 1,000 and %.3f ms over its last 1,000);\n",
			thousands(int64(a.Generations-1)), a.BuildSeconds, a.FirstP50, a.LastP50)
		fmt.Fprintf(w, "then %d interleaved pairs: generation %s+ p50 %.3f ms mean %.3f ms; new family (generation 1) p50 %.3f ms mean %.3f ms; aged/new %.0f%%\n",
			a.Pairs, thousands(int64(a.Generations)), a.AgedP50, a.AgedMean, a.NewP50, a.NewMean, 100*a.AgedMean/a.NewMean)
	}
	return nil
}

// scaleRows pairs the refresh rows at the smallest and the largest
// families count, by concurrency.
func (r *Report) scaleRows() [][2]Row {
	small, large := 0, 0
	for _, row := range r.Rows {
		if row.Grant != GrantRefresh {
			continue
		}
		if small == 0 || row.Families < small {
			small = row.Families
		}
		large = max(large, row.Families)
	}
	if small == large {
		return nil
	}
	var out [][2]Row
	for _, a := range r.Rows {
		if a.Grant != GrantRefresh || a.Families != small {
			continue
		}
		for _, b := range r.Rows {
			if b.Grant == GrantRefresh && b.Families == large && b.Concurrency == a.Concurrency {
				out = append(out, [2]Row{a, b})
			}
		}
	}
	return out
}

// rowLine is one row as a line of progress.
func rowLine(row Row) string {
	s := fmt.Sprintf("%-18s %-8s c=%-3d %8s req/s  p50 %.2f  p99 %.2f ms  %d errors  cpu %s s/1k",
		row.Grant, row.Backend, row.Concurrency, thousands(int64(row.RPS+0.5)), row.P50, row.P99, row.Errors, cpuText(row.ServerCPUPer1k))
	if row.FloorRatio > 0 {
		s += "  " + ratioText(row.FloorRatio) + " of floor"
	}
	if row.Families > 0 {
		s += "  (" + thousands(int64(row.Families)) + " families)"
	}
	return s
}

func cpuText(v float64) string {
	if v < 0 {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}

func ratioText(v float64) string {
	if v <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", v*100)
}

func mb(b int64) string {
	if b <= 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64)
}

func count(n int) string {
	if n <= 0 {
		return "-"
	}
	return thousands(int64(n))
}

// thousands writes n with commas between groups of three digits.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func sortedKeys(m map[int]int64) []int { return slices.Sorted(maps.Keys(m)) }
