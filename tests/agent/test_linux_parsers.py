"""Small Linux file-format parsers on real captures (fixtures/linux/debian-12/SOURCES.md)."""

from __future__ import annotations

from agent.parsers.cpuinfo import parse_cpuinfo
from agent.parsers.os_release import parse_os_release
from agent.parsers.packages import parse_dpkg_query, parse_rpm_qa
from agent.parsers.proc_net import default_gateway_v4, default_gateway_v6
from agent.parsers.resolv_conf import nameservers
from tests.fakes import FIXTURES

DEB12 = FIXTURES / "linux/debian-12"


def test_os_release():
    release = parse_os_release((DEB12 / "os-release").read_text())
    assert release["ID"] == "debian"
    assert release["VERSION_ID"] == "12"
    assert release["PRETTY_NAME"] == "Debian GNU/Linux 12 (bookworm)"


def test_os_release_quoting():
    text = 'NAME="Fedora Linux"\nVERSION_ID=39\n# comment\nVARIANT="Workstation Edition"\n'
    release = parse_os_release(text)
    assert release == {
        "NAME": "Fedora Linux",
        "VERSION_ID": "39",
        "VARIANT": "Workstation Edition",
    }


def test_default_gateways():
    # 010200C0 little-endian is 192.0.2.1; the v6 default route's next hop is fd00::1.
    assert default_gateway_v4((DEB12 / "proc-net-route").read_text()) == "192.0.2.1"
    assert default_gateway_v6((DEB12 / "proc-net-ipv6_route").read_text()) == "fd00::1"


def test_no_default_route():
    header = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n"
    line = "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n"
    assert default_gateway_v4(header + line) is None


def test_cpuinfo():
    info = parse_cpuinfo((DEB12 / "cpuinfo-first-cpu").read_text())
    assert info.model == "Intel(R) Xeon(R) Processor"
    assert info.processors == 1
    assert info.hypervisor is True


def test_resolv_conf():
    text = "# generated\nsearch example.org\nnameserver 10.0.0.1\nnameserver fd00::53\n"
    assert nameservers(text) == ["10.0.0.1", "fd00::53"]


def test_dpkg_query():
    packages = parse_dpkg_query((DEB12 / "dpkg-query.out").read_text())
    assert len(packages) == 40
    adduser = packages[0]
    assert (adduser.name, adduser.version) == ("adduser", "3.134")
    # Maintained inside the Debian project (adduser@packages.debian.org): published by Debian.
    assert adduser.publisher == "Debian"
    # One of the 40 (checked by hand) is maintained by a volunteer outside debian.org.
    others = {p.name: p.publisher for p in packages if p.publisher != "Debian"}
    assert others == {"cscope": "Tobias Klauser"}


def test_dpkg_query_names_each_package_s_source_and_source_version():
    packages = {p.name: p for p in parse_dpkg_query((DEB12 / "dpkg-query-source.out").read_text())}
    assert len(packages) == 40
    # Checked by hand against the capture: a binNMU (+b8) is built from source 5.2.15-2; a
    # binary with an epoch comes from a source without one; cpp from gcc-defaults 1.203.
    assert (packages["bash"].source, packages["bash"].source_version) == ("bash", "5.2.15-2")
    bsdutils = packages["bsdutils"]
    assert (bsdutils.version, bsdutils.source, bsdutils.source_version) == (
        "1:2.38.1-5+deb12u3",
        "util-linux",
        "2.38.1-5+deb12u3",
    )
    assert (packages["cpp"].source, packages["cpp"].source_version) == ("gcc-defaults", "1.203")
    assert packages["amqp-tools"].source == "librabbitmq"


def test_dpkg_query_without_source_fields_leaves_the_source_unknown():
    packages = parse_dpkg_query((DEB12 / "dpkg-query.out").read_text())
    assert {(p.source, p.source_version) for p in packages} == {(None, None)}


def test_publisher_of_third_party_packages_is_their_maintainer_without_address():
    text = (
        "ii 	google-chrome-stable	120.0	Chrome Linux Team <chromium-dev@chromium.org>\n"
        "ii 	firefox	121.0	Ubuntu Mozilla Team <ubuntu-mozillateam@lists.ubuntu.com>\n"
        "ii 	local-tool	1.0	\n"
    )
    assert [p.publisher for p in parse_dpkg_query(text)] == [
        "Chrome Linux Team",
        "Ubuntu",
        None,
    ]


def test_dpkg_query_skips_removed_packages():
    text = "rc \told-package\t1.0\tSomeone <a@b>\nii \tkept\t2.0\tTeam <t@x>\n"
    assert [p.name for p in parse_dpkg_query(text)] == ["kept"]


def test_rpm_qa_epoch_and_vendor():
    text = "bash\t(none):5.2.15-3.fc38\tFedora Project\nperl-libs\t4:5.36.1-496.fc38\t(none)\n"
    packages = parse_rpm_qa(text)
    assert [(p.name, p.version, p.publisher) for p in packages] == [
        ("bash", "5.2.15-3.fc38", "Fedora Project"),
        ("perl-libs", "4:5.36.1-496.fc38", None),
    ]
