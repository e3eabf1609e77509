namespace ember::model {}
