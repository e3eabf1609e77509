namespace ember::runtime {}
