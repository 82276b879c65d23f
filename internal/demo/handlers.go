package demo

import (
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed static
var staticFS embed.FS

// NewHandler returns the demo routes as a handler, without a listener.
// With Options.MeterProvider set, the token gauge's callback stays
// registered with that provider for the provider's life; Start's Server
// unregisters it at Shutdown or Close.
func NewHandler(opts Options) (http.Handler, error) {
	h, _, err := newHandler(opts)
	return h, err
}

// newHandler is NewHandler returning the metrics to close as well.
func newHandler(opts Options) (http.Handler, *metrics, error) {
	if opts.TokenTTL < 0 || opts.MaxTokens < 0 {
		return nil, nil, errors.New("demo: TokenTTL and MaxTokens must not be negative")
	}
	users := opts.Users
	if users == nil {
		users = map[string]string{DefaultUser: DefaultPassword}
	}
	a := &app{
		users:  users,
		ttl:    opts.TokenTTL,
		now:    opts.Now,
		tokens: newTokenStore(opts.MaxTokens),
		items:  makeItems(5000),
		cache:  newCache(1024),
		start:  time.Now(),
	}
	if a.ttl == 0 {
		a.ttl = DefaultTokenTTL
	}
	if a.now == nil {
		a.now = time.Now
	}
	a.model = newModel()

	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, nil, fmt.Errorf("demo: %w", err)
	}
	m, err := newMetrics(opts.MeterProvider, a.tokens.len)
	if err != nil {
		return nil, nil, err
	}
	mux := http.NewServeMux()
	route := func(pattern, name string, h http.HandlerFunc) {
		mux.Handle(pattern, m.instrument(name, h))
	}
	route("GET /health", "health", a.health)
	route("POST /auth/login", "login", a.login)
	route("GET /api/items", "items", a.auth(a.listItems))
	route("GET /api/items/{id}", "item", a.auth(a.getItem))
	route("GET /api/search", "search", a.auth(a.search))
	route("GET /api/cache/{key}", "cache", a.auth(a.cacheGet))
	route("POST /api/infer", "infer", a.auth(a.infer))
	route("GET /{$}", "page", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, static, "index.html")
	})
	mux.Handle("GET /static/", m.instrument("static", http.StripPrefix("/static/", http.FileServerFS(static))))
	if opts.Handler != nil {
		mux.Handle("/metrics", opts.Handler)
		mux.Handle("/debug/", opts.Handler)
	} else if m.handler != nil {
		mux.Handle("GET /metrics", m.handler)
	}
	return mux, m, nil
}

type app struct {
	users  map[string]string
	ttl    time.Duration
	now    func() time.Time
	tokens *tokenStore
	items  []item
	cache  *cache
	model  *model
	start  time.Time
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encoding failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func (a *app) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "uptime_s": math.Round(time.Since(a.start).Seconds())})
}

// maxBody bounds request bodies.
const maxBody = 64 << 10

func (a *app) login(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "body must be JSON {\"username\": ..., \"password\": ...}: "+err.Error())
		return
	}
	pw, ok := a.users[req.Username]
	if !ok || pw != req.Password {
		writeError(w, http.StatusUnauthorized, "wrong user name or password")
		return
	}
	var raw [24]byte
	if _, err := rand.Read(raw[:]); err != nil {
		writeError(w, http.StatusInternalServerError, "no randomness")
		return
	}
	tok := hex.EncodeToString(raw[:])
	exp := a.now().Add(a.ttl)
	a.tokens.add(tok, req.Username, exp)
	writeJSON(w, http.StatusOK, map[string]any{
		"token":      tok,
		"token_type": "Bearer",
		"expires_in": int64(a.ttl.Seconds()),
		"expires_at": exp.UTC().Format(time.RFC3339Nano),
	})
}

// auth requires a live bearer token.
func (a *app) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || tok == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="demo"`)
			writeError(w, http.StatusUnauthorized, "missing bearer token (POST /auth/login)")
			return
		}
		if !a.tokens.valid(tok, a.now()) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="demo", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "token expired or unknown")
			return
		}
		h(w, r)
	}
}

// tokenStore keeps live tokens, at most max, forgetting the oldest first.
type tokenStore struct {
	mu    sync.Mutex
	byTok map[string]time.Time
	ring  []string // insertion order, fixed capacity
	next  int
}

func newTokenStore(max int) *tokenStore {
	if max == 0 {
		max = DefaultMaxTokens
	}
	return &tokenStore{byTok: map[string]time.Time{}, ring: make([]string, 0, max)}
}

func (s *tokenStore) add(tok, user string, exp time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.ring) < cap(s.ring) {
		s.ring = append(s.ring, tok)
	} else {
		delete(s.byTok, s.ring[s.next])
		s.ring[s.next] = tok
		s.next = (s.next + 1) % len(s.ring)
	}
	s.byTok[tok] = exp
}

func (s *tokenStore) valid(tok string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.byTok[tok]
	return ok && now.Before(exp)
}

func (s *tokenStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byTok)
}

// item is a row of the demo's in-memory table.
type item struct {
	ID       int     `json:"id"`
	Name     string  `json:"name"`
	Category string  `json:"category"`
	Price    float64 `json:"price"`
	Stock    int     `json:"stock"`
}

// makeItems builds a deterministic table.
func makeItems(n int) []item {
	adj := []string{"steel", "oak", "copper", "glass", "linen", "cedar", "brass", "wool", "stone", "silver"}
	noun := []string{"lamp", "chair", "table", "kettle", "shelf", "clock", "bowl", "desk", "stool", "vase", "rug", "frame"}
	cats := []string{"home", "kitchen", "office", "garden"}
	items := make([]item, n)
	x := uint32(2463534242)
	for i := range items {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		items[i] = item{
			ID:       i + 1,
			Name:     adj[x%uint32(len(adj))] + " " + noun[(x>>8)%uint32(len(noun))],
			Category: cats[(x>>16)%uint32(len(cats))],
			Price:    float64(500+x%50000) / 100,
			Stock:    int(x>>20) % 200,
		}
	}
	return items
}

func intParam(r *http.Request, name string, def, lo, hi int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		return 0, fmt.Errorf("%s must be a whole number from %d to %d", name, lo, hi)
	}
	return v, nil
}

func (a *app) listItems(w http.ResponseWriter, r *http.Request) {
	limit, err := intParam(r, "limit", 20, 1, 100)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	offset, err := intParam(r, "offset", 0, 0, len(a.items))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	end := min(offset+limit, len(a.items))
	writeJSON(w, http.StatusOK, map[string]any{"items": a.items[offset:end], "total": len(a.items), "offset": offset})
}

func (a *app) getItem(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil || id < 1 || id > len(a.items) {
		writeError(w, http.StatusNotFound, "no such item")
		return
	}
	writeJSON(w, http.StatusOK, a.items[id-1])
}

// search is the "database query": a scan with a filter and a sort, like a
// query without an index.
func (a *app) search(w http.ResponseWriter, r *http.Request) {
	q := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("q")))
	if q == "" || len(q) > 100 {
		writeError(w, http.StatusBadRequest, "q must be 1 to 100 characters")
		return
	}
	limit, err := intParam(r, "limit", 10, 1, 100)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var hits []item
	for _, it := range a.items {
		if strings.Contains(it.Name, q) || it.Category == q {
			hits = append(hits, it)
		}
	}
	slices.SortFunc(hits, func(x, y item) int {
		switch {
		case x.Price < y.Price:
			return -1
		case x.Price > y.Price:
			return 1
		}
		return x.ID - y.ID
	})
	n := len(hits)
	writeJSON(w, http.StatusOK, map[string]any{"query": q, "matches": n, "items": hits[:min(limit, n)]})
}

// cache is a bounded map of rendered values: the "cache operation".
type cache struct {
	mu  sync.Mutex
	m   map[string][]byte
	max int
}

func newCache(max int) *cache { return &cache{m: map[string][]byte{}, max: max} }

func (a *app) cacheGet(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	if len(key) > 200 {
		writeError(w, http.StatusBadRequest, "key longer than 200 bytes")
		return
	}
	c := a.cache
	c.mu.Lock()
	v, hit := c.m[key]
	c.mu.Unlock()
	status := "HIT"
	if !hit {
		status = "MISS"
		var h uint32 = 2166136261
		for i := 0; i < len(key); i++ {
			h = (h ^ uint32(key[i])) * 16777619
		}
		it := a.items[int(h%uint32(len(a.items)))]
		v, _ = json.Marshal(map[string]any{"key": key, "value": it})
		v = append(v, '\n')
		c.mu.Lock()
		if len(c.m) >= c.max {
			clear(c.m) // a crude eviction keeps the demo bounded
		}
		c.m[key] = v
		c.mu.Unlock()
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Cache", status)
	w.Header().Set("Content-Length", strconv.Itoa(len(v)))
	w.Write(v)
}

// model is a tiny fixed multilayer perceptron: the "AI inference".
type model struct {
	w1 [64][8]float64
	w2 [64][64]float64
	w3 [4][64]float64
}

func newModel() *model {
	m := &model{}
	x := uint64(88172645463325252)
	next := func() float64 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		return float64(x%2001)/1000 - 1
	}
	for i := range m.w1 {
		for j := range m.w1[i] {
			m.w1[i][j] = next() / 3
		}
	}
	for i := range m.w2 {
		for j := range m.w2[i] {
			m.w2[i][j] = next() / 8
		}
	}
	for i := range m.w3 {
		for j := range m.w3[i] {
			m.w3[i][j] = next() / 8
		}
	}
	return m
}

func (m *model) forward(in [8]float64) [4]float64 {
	var h1, h2 [64]float64
	for i := range h1 {
		var s float64
		for j, v := range in {
			s += m.w1[i][j] * v
		}
		h1[i] = max(s, 0)
	}
	for i := range h2 {
		var s float64
		for j, v := range h1 {
			s += m.w2[i][j] * v
		}
		h2[i] = max(s, 0)
	}
	var out [4]float64
	var sum float64
	for i := range out {
		var s float64
		for j, v := range h2 {
			s += m.w3[i][j] * v
		}
		out[i] = math.Exp(s)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}

func (a *app) infer(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Input []float64 `json:"input"`
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err != nil || len(req.Input) != 8 {
		writeError(w, http.StatusBadRequest, "body must be JSON {\"input\": [8 numbers]}")
		return
	}
	var in [8]float64
	copy(in[:], req.Input)
	// A few passes make the work measurable, like a small model's layers.
	var out [4]float64
	for range 16 {
		out = a.model.forward(in)
		in[0] += out[0] * 1e-3
	}
	label := 0
	for i, v := range out {
		if v > out[label] {
			label = i
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"output": out, "label": label})
}
