"""Small SDN advanced XML documents, shaped like OFAC's, for tests of lists that change."""

from xml.sax.saxutils import escape

from feed.ofac import CURRENCY_FEATURE, NS, Listing

NAMESPACE = NS.strip("{}")


def sdn_xml(listings: list[Listing]) -> bytes:
    tickers = sorted({listing.ticker for listing in listings} | {"XBT"})
    feature_ids = {ticker: str(900 + n) for n, ticker in enumerate(tickers)}
    types = "".join(
        f'<FeatureType ID="{feature_ids[t]}">{CURRENCY_FEATURE}{t}</FeatureType>' for t in tickers
    )
    parties, entries = [], []
    for entry in sorted({listing.entry for listing in listings}):
        own = [listing for listing in listings if listing.entry == entry]
        features = "".join(
            f'<Feature FeatureTypeID="{feature_ids[x.ticker]}"><FeatureVersion>'
            f"<VersionDetail>{escape(x.address)}</VersionDetail></FeatureVersion></Feature>"
            for x in own
        )
        parties.append(
            f'<DistinctParty FixedRef="{entry}"><Profile ID="{entry}"><Identity>'
            f'<Alias Primary="true"><DocumentedName DocNameStatusID="1"><DocumentedNamePart>'
            f"<NamePartValue>{escape(own[0].party)}</NamePartValue></DocumentedNamePart>"
            f"</DocumentedName></Alias></Identity>{features}</Profile></DistinctParty>"
        )
        measures = "".join(
            f'<SanctionsMeasure SanctionsTypeID="1"><Comment>{p}</Comment></SanctionsMeasure>'
            for p in own[0].programs
        )
        entries.append(f'<SanctionsEntry ProfileID="{entry}">{measures}</SanctionsEntry>')
    return (
        f'<?xml version="1.0" encoding="utf-8"?><Sanctions xmlns="{NAMESPACE}">'
        f"<ReferenceValueSets><FeatureTypeValues>{types}</FeatureTypeValues>"
        '<SanctionsTypeValues><SanctionsType ID="1">Program</SanctionsType>'
        "</SanctionsTypeValues></ReferenceValueSets>"
        f"<DistinctParties>{''.join(parties)}</DistinctParties>"
        f"<SanctionsEntries>{''.join(entries)}</SanctionsEntries></Sanctions>"
    ).encode()
