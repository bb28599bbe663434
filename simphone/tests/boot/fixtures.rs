//! Files the mini file server serves: the upgrade script and the firmware images.

pub const OLD_APP: &str = "S96x0_SALBR2_6_0_0.bin";
pub const NEW_APP: &str = "S96x0_SALBR2_7_0_0.bin";
pub const USER: &str = "2001";
pub const PASSWORD: &str = "1234";

pub fn upgrade_script() -> String {
    format!(
        "## test upgrade script\r\nIF $MODEL4 SEQ 9620 GOTO M9620\r\nGOTO GETSET\r\n# M9620\r\nSET APPNAME {NEW_APP}\r\n# GETSET\r\nGET 46xxsettings.txt\r\n"
    )
}

pub fn image(corrupt: bool) -> Vec<u8> {
    let key = provisioning::firmware::lab_signing_key();
    let mut img = provisioning::firmware::build(
        NEW_APP,
        &["9620", "9630"],
        &version(NEW_APP),
        b"reference payload",
        &key,
    );
    if corrupt {
        // Flip one bit of the payload area: the signature or digest check must catch it.
        let at = img.len() / 2;
        img[at] ^= 0x40;
    }
    img
}

pub fn version(app: &str) -> String {
    simphone::boot::version_of(app)
}

/// A settings file that names the registrar: the only source of SIP_CONTROLLER_LIST.
pub fn settings_file(registrar: std::net::SocketAddr) -> String {
    format!(
        "## settings\nSET SIP_CONTROLLER_LIST {}:{};transport=udp\nSET SIPDOMAIN lab.test\n",
        registrar.ip(),
        registrar.port()
    )
}
