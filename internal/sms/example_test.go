package sms_test

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sms"
)

// Each worker measures its rows into its own Totals and Cost; the caller
// merges them for the summary.
func Example() {
	prices, err := sms.ParsePrices(strings.NewReader("country,price\nUS,0.0075\n"))
	if err != nil {
		fmt.Println(err)
		return
	}
	flat, _ := sms.ParsePrice("0.05")
	prices = prices.WithFlat(flat)

	rows := []struct{ region, text string }{
		{"US", "Hi Anna, your code is 1234."},
		{"US", "We’re open today 😀"},
		{"GB", "Don’t miss our sale – 20% off!"},
	}
	var totals sms.Totals
	cost := sms.NewCost(prices)
	for _, r := range rows {
		text, _ := sms.GSMSafe(r.text) // with --gsm-safe
		c := sms.Measure(text)
		totals.Add(c)
		cost.Add(r.region, c.Segments)
	}
	fmt.Println(totals)
	fmt.Println(cost)
	b, _ := json.Marshal(totals)
	fmt.Println(string(b))
	// Output:
	// 3 messages: 2 GSM-7, 1 UCS-2; 3 segments (max 1); UCS-2 forced by ’ U+2019 (1), 😀 U+1F600 (1)
	// estimated cost 0.065 (GB 0.05, US 0.015) from your prices, not Sinch billing
	// {"messages":3,"gsm7":2,"ucs2":1,"segments":3,"max_segments":1,"ucs2_chars":["’","😀"]}
}
