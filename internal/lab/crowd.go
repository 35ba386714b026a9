package lab

import (
	"math/rand/v2"
	"strings"
)

// The big tables (log_stream on ClickHouse, chat_logs on the relational
// servers) hide a few real values behind many documentation values, as
// real logs do: one row in CrowdEvery (0-based row CrowdAt modulo
// CrowdEvery of log_stream, id CrowdAt modulo CrowdEvery of chat_logs)
// carries a value of the crowd plan. Fetching a few rows per keyword
// finds the placeholders and misses the real values; fetching by
// distinct value finds both.
//
// In the plan: AKIAIOSFODNN7EXAMPLE (with its documentation secret) in
// 300 rows beside 5 real AWS key ids, which the placeholder ids of the
// rows of aws in the 1-in-400 mix crowd further (see bigSecret); the
// connection-string schemes at very different frequencies, each mostly
// documentation values (postgres:// also holds the mix's real ones;
// mongodb+srv://, redis:// 3 real each, amqp:// 2); and two kinds found
// nowhere else, CrowdedKinds, with 3 real values each behind 150 and 100
// placeholders.
const (
	CrowdEvery = 1000
	CrowdAt    = 500
	// DocAWSKeyID is the documentation key id of AWS.
	DocAWSKeyID = "AKIAIOSFODNN7EXAMPLE"
)

var (
	// CrowdedKinds are planted in the big tables only behind many
	// placeholders: a scan must confirm each.
	CrowdedKinds = []string{"gitlab", "slack"}
	// ConnectionSchemes are the schemes of the real connection strings
	// planted in the big tables, most common first: a scan must confirm
	// each.
	ConnectionSchemes = []string{"postgres", "mongodb+srv", "redis", "amqp"}
	// CrowdedRules are rules whose only real values in the big tables sit
	// behind placeholders sharing their keyword.
	CrowdedRules = []string{"aws-access-key-id", "gitlab-personal-access-token", "slack-bot-token"}
)

// crowdSlot makes the value of one slot of the plan.
type crowdSlot func(g gen) string

// crowdPlan is the plan's CrowdEvery slots, in a fixed shuffled order;
// nil slots carry nothing.
var crowdPlan = func() []crowdSlot {
	var plan []crowdSlot
	add := func(n int, f crowdSlot) {
		for range n {
			plan = append(plan, f)
		}
	}
	const docSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	add(300, func(gen) string {
		return "aws configure list: aws_access_key_id=" + DocAWSKeyID + " aws_secret_access_key=" + docSecret
	})
	add(5, func(g gen) string {
		return `{"event":"sts:GetCallerIdentity","access_key_id":"AKIA` + g.pick(upper, 16) + `"}`
	})
	add(150, func(gen) string { return "DATABASE_URL=postgres://user:password@localhost:5432/mydb" })
	add(80, func(gen) string {
		return `{"hint":"set MONGO_URI to mongodb+srv://<username>:<password>@cluster0.mongodb.net/test"}`
	})
	add(3, func(g gen) string {
		return `{"dsn":"mongodb+srv://etl:` + g.pick(alnum, 18) + `@cluster0.ab1cd.mongodb.net/events"}`
	})
	add(80, func(gen) string { return "REDIS_URL=redis://:changeme@localhost:6379/0" })
	add(3, func(g gen) string { return "REDIS_URL=redis://:" + g.pick(alnum, 20) + "@cache-7.internal:6379/0" })
	add(60, func(gen) string { return "broker_url = amqp://user:password@rabbitmq:5672/" })
	add(2, func(g gen) string {
		return "broker_url = amqp://orders:" + g.pick(alnum, 16) + "@mq.internal:5672/prod"
	})
	add(150, func(gen) string {
		return "curl --header 'PRIVATE-TOKEN: glpat-xxxxxxxxxxxxxxxxxxxx' https://gitlab.example.com/api/v4/projects"
	})
	add(3, func(g gen) string {
		return `{"headers":{"PRIVATE-TOKEN":"glpat-` + g.pick(alnum, 20) + `"}}`
	})
	add(100, func(gen) string { return "export SLACK_BOT_TOKEN=xoxb-your-bot-token" })
	add(3, func(g gen) string {
		return "SLACK_BOT_TOKEN=xoxb-" + g.pick("0123456789", 12) + "-" + g.pick("0123456789", 13) + "-" + g.pick(alnum, 24)
	})
	plan = append(plan, make([]crowdSlot, CrowdEvery-len(plan))...)
	r := rand.New(rand.NewPCG(21, 21))
	r.Shuffle(len(plan), func(i, j int) { plan[i], plan[j] = plan[j], plan[i] })
	return plan
}()

// crowded returns the value planted in row (or id) i of a big table, or
// "". It draws from a generator of its own, so the rows of the 1-in-400
// and 1-in-150 mixes stay what they were.
func crowded(i int) string {
	if i%CrowdEvery != CrowdAt {
		return ""
	}
	f := crowdPlan[i/CrowdEvery%CrowdEvery]
	if f == nil {
		return ""
	}
	return f(gen{rand.New(rand.NewPCG(uint64(i), 22))})
}

// bigSecret is secret for the big tables' 1-in-400 mix: there the AWS
// credentials carry the documentation key id beside a real secret key, so
// that real key ids are few (see crowdPlan) and kind aws is still found by
// its secret key.
func (g gen) bigSecret(kind string) string {
	v := g.secret(kind)
	if kind == "aws" {
		id := v[strings.Index(v, "AKIA") : strings.Index(v, "AKIA")+20]
		v = strings.Replace(v, id, DocAWSKeyID, 1)
	}
	return v
}
