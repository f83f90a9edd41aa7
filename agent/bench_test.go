package agent_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/posagent/posagent/agent/agenttest"
	"github.com/posagent/posagent/agent/invoice"
)

// BenchmarkSale is the sale pipeline in process, without socket, printer or uploader:
// decode and validate, idempotency lookup, journal append (build, hash, sign with the
// TPM-sealed key unsealed in memory, commit with fsync) and the reply.
func BenchmarkSale(b *testing.B) {
	e := agenttest.NewEnv(b, agenttest.Options{NoPrinter: true, Uploader: &agenttest.KickCounter{}})
	e.Onboard(b)
	body := string(saleFile(b, "02-mixed-categories.json"))
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sale := []byte(strings.Replace(body, `"pos1-0002"`, `"bench-`+strconv.Itoa(i)+`"`, 1))
		if _, err := e.Agent.Sale(ctx, sale, invoice.TypeInvoice); err != nil {
			b.Fatal(err)
		}
	}
}
