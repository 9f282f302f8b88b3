package sms

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// unknownRegion is the key for numbers whose region is not known, the
// code phonenumbers itself uses.
const unknownRegion = "ZZ"

// Cost estimates the price of a campaign from the user's own Prices. It
// is an estimate, not Sinch's billing. Create it with NewCost (a zero Cost
// has no prices and counts every segment as unpriced). It is not safe for
// concurrent use: give each worker its own and Merge them.
type Cost struct {
	prices   Prices
	total    int64            // Price units
	byRegion map[string]int64 // Price units
	// unpriced counts segments, per region, that no price applies to.
	unpriced map[string]int
}

// NewCost returns an empty Cost that prices segments with p.
func NewCost(p Prices) *Cost {
	c := &Cost{prices: p}
	c.init()
	return c
}

func (c *Cost) init() {
	if c.byRegion == nil {
		c.byRegion, c.unpriced = make(map[string]int64), make(map[string]int)
	}
}

// Add records segments sent to a number of region (as
// phonenumbers.GetRegionCodeForNumber returns it; "" counts as "ZZ").
func (c *Cost) Add(region string, segments int) {
	region = regionKey(region)
	c.init()
	price, ok := c.prices.Lookup(region)
	if !ok {
		c.unpriced[region] += segments
		return
	}
	v := int64(price) * int64(segments)
	c.total += v
	c.byRegion[region] += v
}

func regionKey(region string) string {
	if region == "" {
		return unknownRegion
	}
	return strings.ToUpper(region)
}

// Merge adds o's amounts into c. Each side was priced when it was added.
func (c *Cost) Merge(o *Cost) {
	c.init()
	c.total += o.total
	for r, v := range o.byRegion {
		c.byRegion[r] += v
	}
	for r, n := range o.unpriced {
		c.unpriced[r] += n
	}
}

// Total is the estimated cost of the priced segments.
func (c *Cost) Total() Price { return Price(c.total) }

// UnpricedSegments is the number of segments no price applied to.
func (c *Cost) UnpricedSegments() int {
	n := 0
	for _, v := range c.unpriced {
		n += v
	}
	return n
}

// UnpricedRegions lists, sorted, the regions that had no price.
func (c *Cost) UnpricedRegions() []string {
	return slices.Sorted(maps.Keys(c.unpriced))
}

type costJSON struct {
	Total             json.Number            `json:"total"`
	ByCountry         map[string]json.Number `json:"by_country,omitempty"`
	UnpricedSegments  int                    `json:"unpriced_segments,omitempty"`
	UnpricedCountries []string               `json:"unpriced_countries,omitempty"`
}

// MarshalJSON writes {"total": 12.345, "by_country": {"US": 1.23},
// "unpriced_segments": n, "unpriced_countries": ["FR"]} with exact decimal
// numbers; empty fields other than total are left out.
func (c *Cost) MarshalJSON() ([]byte, error) {
	j := costJSON{
		Total:             json.Number(formatMicros(c.total)),
		UnpricedSegments:  c.UnpricedSegments(),
		UnpricedCountries: c.UnpricedRegions(),
	}
	if len(c.byRegion) > 0 {
		j.ByCountry = make(map[string]json.Number, len(c.byRegion))
		for r, v := range c.byRegion {
			j.ByCountry[r] = json.Number(formatMicros(v))
		}
	}
	return json.Marshal(j)
}

// String is a one-line summary for a terminal, e.g.
//
//	estimated cost 1.5 (GB 0.5, US 1) from your prices, not Sinch billing; 4 segments unpriced (FR, ZZ)
func (c *Cost) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "estimated cost %s", formatMicros(c.total))
	for i, r := range slices.Sorted(maps.Keys(c.byRegion)) {
		sep := ", "
		if i == 0 {
			sep = " ("
		}
		fmt.Fprintf(&b, "%s%s %s", sep, r, formatMicros(c.byRegion[r]))
	}
	if len(c.byRegion) > 0 {
		b.WriteString(")")
	}
	b.WriteString(" from your prices, not Sinch billing")
	if n := c.UnpricedSegments(); n > 0 {
		fmt.Fprintf(&b, "; %d segments unpriced (%s)", n, strings.Join(c.UnpricedRegions(), ", "))
	}
	return b.String()
}

// UnmarshalJSON reads what MarshalJSON writes, so a summary survives a
// round trip. The unpriced segments, whose split by country is not in the
// JSON, are kept under the first unpriced country.
func (c *Cost) UnmarshalJSON(b []byte) error {
	var j costJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*c = Cost{}
	c.init()
	total, err := ParsePrice(j.Total.String())
	if err != nil {
		return fmt.Errorf("sms: cost total: %w", err)
	}
	c.total = int64(total)
	for r, v := range j.ByCountry {
		p, err := ParsePrice(v.String())
		if err != nil {
			return fmt.Errorf("sms: cost of %s: %w", r, err)
		}
		c.byRegion[r] = int64(p)
	}
	for i, r := range j.UnpricedCountries {
		c.unpriced[r] = 0
		if i == 0 {
			c.unpriced[r] = j.UnpricedSegments
		}
	}
	return nil
}
