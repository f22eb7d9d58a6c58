package postgres

import (
	"context"
	"slices"
	"sync"

	"github.com/agorafed/agora/community"
)

// ChannelCache carries the name of a cached table after a write to it
// (a trigger on the table, migration 0016: whoever writes, this node,
// another, or a command run beside them).
const ChannelCache = "agora_cache"

// rowCache keeps in memory the rows that every received activity reads
// and that seldom change: the communities and the domain blocks. Each
// is otherwise a round trip to the server per activity (the instance's
// blocks when an activity is received, its community when it is
// processed), where SQLite reads them in the process.
//
// It caches only while this node listens for ChannelCache (Listen): a
// write anywhere empties the table's entries on every listening node
// once its commit is heard, a few milliseconds later; this node's own
// writes empty them as they return, so that it reads what it wrote. A
// node that does not listen (the command line) or whose listening
// connection broke reads the database each time, and the cache starts
// empty once it listens again: no write goes unheard in a cache.
//
// A read that started before a write and ends after the write was heard
// must not put back what it read: gen counts the invalidations, and a
// read stores its rows only if none came while it ran.
type rowCache struct {
	mu          sync.Mutex
	live        bool   // ChannelCache is heard
	gen         uint64 // invalidations so far
	communities map[string]community.Community
	ids         map[int64]string // community id -> name, for byID
	blocks      map[int64][]community.DomainBlock
}

// Cached tables, as the trigger names them.
const (
	tableCommunities  = "communities"
	tableDomainBlocks = "domain_blocks"
)

// Listening tells whether this node hears ChannelCache (Listen is
// connected and listening), and so keeps the cached tables in memory.
func (db *DB) Listening() bool {
	live, _ := db.cache.begin()
	return live
}

// setLive starts caching (listening) or stops it; either way it empties
// the cache: what was written while nobody listened is unknown.
func (c *rowCache) setLive(live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.live = live
	c.gen++
	c.communities, c.ids, c.blocks = nil, nil, nil
}

// invalidate forgets a table's rows ("" or an unknown name: all).
func (c *rowCache) invalidate(table string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	switch table {
	case tableCommunities:
		c.communities, c.ids = nil, nil
	case tableDomainBlocks:
		c.blocks = nil
	default:
		c.communities, c.ids, c.blocks = nil, nil, nil
	}
}

// begin returns whether a read may store what it reads, and the
// generation to check when it does.
func (c *rowCache) begin() (bool, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.live, c.gen
}

// community returns a cached community by name or, name "", by id.
func (c *rowCache) community(name string, id int64) (community.Community, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if name == "" {
		var ok bool
		if name, ok = c.ids[id]; !ok {
			return community.Community{}, false
		}
	}
	v, ok := c.communities[name]
	return v, ok
}

func (c *rowCache) putCommunity(gen uint64, v community.Community) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live || c.gen != gen {
		return
	}
	if c.communities == nil {
		c.communities, c.ids = map[string]community.Community{}, map[int64]string{}
	}
	c.communities[v.Name] = v
	c.ids[v.ID] = v.Name
}

// domainBlocks returns a copy of a community's cached blocks.
func (c *rowCache) domainBlocks(communityID int64) ([]community.DomainBlock, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.blocks[communityID]
	return slices.Clone(v), ok
}

func (c *rowCache) putDomainBlocks(gen uint64, communityID int64, v []community.DomainBlock) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live || c.gen != gen {
		return
	}
	if c.blocks == nil {
		c.blocks = map[int64][]community.DomainBlock{}
	}
	c.blocks[communityID] = slices.Clone(v)
}

// cachedCommunity reads a community through the cache (by name, or by id
// when name is "").
func (db *DB) cachedCommunity(ctx context.Context, name string, id int64) (community.Community, error) {
	if v, ok := db.cache.community(name, id); ok {
		return v, nil
	}
	store, gen := db.cache.begin()
	var v community.Community
	var err error
	if name != "" {
		v, err = scanCommunity(db.pool.QueryRow(ctx, `SELECT `+communityColumns+` FROM communities WHERE name = $1`, name))
	} else {
		v, err = scanCommunity(db.pool.QueryRow(ctx, `SELECT `+communityColumns+` FROM communities WHERE id = $1`, id))
	}
	if err != nil {
		return v, notFound(err)
	}
	if store {
		db.cache.putCommunity(gen, v)
	}
	return v, nil
}
