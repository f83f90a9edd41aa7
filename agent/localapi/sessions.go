package localapi

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"sync"
	"time"

	"github.com/posagent/posagent/agent/apitype"
)

// session is one logged-in cashier. Only the SHA-256 of its token is kept.
type session struct {
	key        [32]byte
	cashier    string
	name       string
	role       apitype.Role
	mustChange bool
	created    time.Time
	lastUsed   time.Time
}

// sessionState is why a token was refused.
type sessionState int

const (
	sessionOK sessionState = iota
	sessionUnknown
	sessionExpired
)

// sessions is the in-memory session table. Sessions end at logout, after Idle without a
// request, after Max in any case, when the cashier's PIN is reset, and when the daemon
// restarts.
type sessions struct {
	idle, max time.Duration

	mu sync.Mutex
	m  map[[32]byte]*session
}

func newSessions(idle, max time.Duration) *sessions {
	return &sessions{idle: idle, max: max, m: map[[32]byte]*session{}}
}

func tokenKey(token string) [32]byte { return sha256.Sum256([]byte(token)) }

// create starts a session and returns its token.
func (s *sessions) create(c apitype.Cashier, now time.Time) (string, *session, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, err
	}
	token := base64.RawURLEncoding.EncodeToString(b[:])
	ss := &session{key: tokenKey(token), cashier: c.ID, name: c.Name, role: c.Role, mustChange: c.MustChangePIN,
		created: now, lastUsed: now}
	s.mu.Lock()
	s.m[ss.key] = ss
	s.sweep(now)
	s.mu.Unlock()
	return token, ss, nil
}

// use looks a token up and, when it is valid, moves its idle deadline. It returns a
// copy of the session.
func (s *sessions) use(token string, now time.Time) (session, sessionState) {
	k := tokenKey(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.m[k]
	if !ok {
		return session{}, sessionUnknown
	}
	if now.Sub(ss.lastUsed) > s.idle || now.Sub(ss.created) > s.max {
		delete(s.m, k)
		return *ss, sessionExpired
	}
	ss.lastUsed = now
	return *ss, sessionOK
}

func (s *sessions) expires(ss session) time.Time {
	t := ss.lastUsed.Add(s.idle)
	if m := ss.created.Add(s.max); m.Before(t) {
		t = m
	}
	return t
}

// end deletes one session.
func (s *sessions) end(key [32]byte) {
	s.mu.Lock()
	delete(s.m, key)
	s.mu.Unlock()
}

// pinChanged clears the must-change flag of a cashier's sessions.
func (s *sessions) pinChanged(cashier string) {
	s.mu.Lock()
	for _, ss := range s.m {
		if ss.cashier == cashier {
			ss.mustChange = false
		}
	}
	s.mu.Unlock()
}

// endCashier deletes every session of a cashier; it returns how many there were.
func (s *sessions) endCashier(cashier string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, ss := range s.m {
		if ss.cashier == cashier {
			delete(s.m, k)
			n++
		}
	}
	return n
}

// sweep drops expired sessions; the caller holds mu.
func (s *sessions) sweep(now time.Time) {
	for k, ss := range s.m {
		if now.Sub(ss.lastUsed) > s.idle || now.Sub(ss.created) > s.max {
			delete(s.m, k)
		}
	}
}
